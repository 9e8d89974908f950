/**
 * The CPU-heavy checks of a published event: its id and Schnorr signature
 * (kp-pub-signature) and, for a KeyPackage, its MLS content (kp-pub-mls).
 * The rules call them through this interface, so the relay can run them on
 * this thread or on worker threads (WorkerVerifier) while the main thread
 * does I/O and the store; a connection's messages stay in order because the
 * relay handles them one at a time whichever thread checks them.
 */
import { eventProblem } from '../../protocol/crypto.js';
import type { NostrEvent } from '../../protocol/messages.js';
import { keyPackageMlsProblem } from '../../protocol/mls.js';

export interface Verifier {
  /** Why the event fails NIP-01 validation (shape, id, signature), or undefined. */
  eventProblem(raw: unknown): Promise<string | undefined>;
  /** Why a KeyPackage's content is not a usable MLS KeyPackage of its pubkey, or undefined. */
  keyPackageMlsProblem(event: NostrEvent): Promise<string | undefined>;
  close(): Promise<void>;
}

/** The checks on the calling thread. */
export const IN_THREAD: Verifier = {
  eventProblem: (raw) => Promise.resolve(eventProblem(raw)),
  keyPackageMlsProblem,
  close: () => Promise.resolve(),
};
