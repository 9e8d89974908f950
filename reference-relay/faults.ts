/**
 * Fault switches: each breaks exactly one profile rule, so the suites can
 * prove they catch a relay that breaks it. Off unless named on the command
 * line. `breaks` lists the PROFILE.md anchors a suite should then flag.
 */
export interface Fault {
  breaks: readonly string[];
  does: string;
}

export const FAULTS = {
  'consume-last': { breaks: ['kp-handout-last-resort'], does: "consumes the owner's last KeyPackage" },
  'double-handout': {
    breaks: ['kp-handout-exactly-once'],
    does: 'streams a hand-out, waits for the socket to take it, then consumes in a second transaction (a naive stream-then-delete relay): requesters on other connections get the same KeyPackage meanwhile',
  },
  'concurrent-messages': {
    breaks: ['kp-handout-exactly-once'],
    does: "handles a connection's messages side by side instead of one at a time, with the stream-then-consume hand-out of double-handout: a burst of REQs on one connection gets the same KeyPackage twice",
  },
  'close-under-load': {
    breaks: ['kp-handout-exactly-once'],
    does: 'closes a connection (1013) that has more than 2 messages in flight instead of answering them, so concurrent requests on one connection are never served',
  },
  'under-delivery': {
    breaks: ['kp-handout-max'],
    does: 'a kind 447 without an n tag hands out 1 KeyPackage instead of max_per_query',
  },
  'lower-served-cap': {
    breaks: ['kp-rate-served'],
    does: 'advertises served_per_window but refuses once half of it was handed out in the window',
  },
  'first-subscription-only': {
    breaks: ['kp-447-delivery'],
    does: 'sends a kind 447 hand-out on the first matching subscription of the connection only',
  },
  'stranger-delete': {
    breaks: ['kp-del-owner'],
    does: "lets a kind 5 from anyone delete a KeyPackage, not only from its owner",
  },
  'crash-on-bad-filter': {
    breaks: ['kp-robust-bad-input'],
    does: 'closes every connection (1011), as a relay process that dies would, when a REQ carries an invalid filter',
  },
  'no-rate-limit': { breaks: ['kp-rate-queries', 'kp-rate-served', 'kp-rate-refusal'], does: 'never refuses for a rate limit' },
  'no-auth': { breaks: ['kp-req-auth', 'kp-447-auth'], does: 'serves and consumes KeyPackages without AUTH' },
  'zero-sig': {
    breaks: ['kp-handout-intact'],
    does: 'serves KeyPackages with an all-zero signature, as a relay rebuilding events from storage might',
  },
  'accept-replay': { breaks: ['kp-pub-no-replay'], does: 'accepts a consumed or deleted KeyPackage again' },
  'newest-first': { breaks: ['kp-handout-order'], does: 'hands out the newest KeyPackages first' },
  'broadcast-live': { breaks: ['kp-pub-no-broadcast'], does: 'fans new KeyPackages out to every matching live subscription' },
  'ok-before-delivery': { breaks: ['kp-447-ok-after-delivery'], does: 'answers a 447 with OK before sending its KeyPackages' },
  'no-challenge': {
    breaks: ['kp-auth-challenge'],
    does: 'sends no NIP-42 challenge, on connect or with its auth-required: refusals, so nobody can authenticate (as relays without NIP-42 do)',
  },
  'lazy-challenge': {
    breaks: ['kp-auth-challenge'],
    does: "sends the NIP-42 challenge only immediately before a connection's first auth-required: refusal (strfry's lazy AUTH): breaks only the SHOULD of kp-auth-challenge",
  },
} as const satisfies Record<string, Fault>;

export type FaultName = keyof typeof FAULTS;

export const FAULT_NAMES = Object.keys(FAULTS) as FaultName[];

export function isFaultName(name: string): name is FaultName {
  return Object.hasOwn(FAULTS, name);
}
