/**
 * Fault switches: each breaks exactly one profile rule, so the suites can
 * prove they catch a relay that breaks it. Off unless named on the command line.
 */
export const FAULTS = {
  'consume-last': 'consumes the owner\'s last KeyPackage (breaks kp-handout-last-resort)',
  'double-handout': 'reads, yields, then consumes, so racing requesters can get the same KeyPackage (breaks kp-handout-exactly-once)',
  'no-rate-limit': 'never refuses for a rate limit (breaks kp-rate-queries, kp-rate-served)',
  'no-auth': 'serves and consumes KeyPackages without AUTH (breaks kp-req-auth, kp-447-auth)',
  'zero-sig': 'serves KeyPackages with an all-zero signature, as a relay rebuilding events from storage might (breaks kp-handout-consume: what is sent is not the stored event)',
  'accept-replay': 'accepts a consumed or deleted KeyPackage again (breaks kp-pub-no-replay)',
  'newest-first': 'hands out the newest KeyPackages first (breaks kp-handout-order)',
  'broadcast-live': 'fans new KeyPackages out to every matching live subscription (breaks kp-pub-no-broadcast)',
  'ok-before-delivery': 'answers a 447 with OK before sending its KeyPackages (breaks kp-447-ok-after-delivery)',
} as const;

export type FaultName = keyof typeof FAULTS;

export const FAULT_NAMES = Object.keys(FAULTS) as FaultName[];

export function isFaultName(name: string): name is FaultName {
  return Object.hasOwn(FAULTS, name);
}
