import { eventProblem } from '../../protocol/crypto.js';

/** kp-pub-signature: why an event (of any kind) fails NIP-01 validation: shape, id or signature. */
export const signatureProblem = (raw: unknown): string | undefined => eventProblem(raw);
