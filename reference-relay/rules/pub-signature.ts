import type { Verifier } from '../verify/verifier.js';

/** kp-pub-signature: why an event (of any kind) fails NIP-01 validation: shape, id or signature (checked by `verifier`, on whichever thread it runs). */
export type SignatureRule = (raw: unknown, verifier: Verifier) => string | undefined | Promise<string | undefined>;

export const signatureProblem: SignatureRule = (raw, verifier) => verifier.eventProblem(raw);
