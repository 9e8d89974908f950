/**
 * Fault switches: each breaks exactly one profile rule, so the suites can
 * prove they catch a relay that breaks it. Off unless named on the command
 * line. `breaks` lists the PROFILE.md anchors a suite should then flag.
 * fault-wiring.ts says what each one swaps.
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
    does: 'lets a kind 5 from anyone delete a KeyPackage (kind 443), not only from its owner',
  },
  'crash-on-bad-filter': {
    breaks: ['kp-robust-bad-input'],
    does: 'closes every connection (1011), as a relay process that dies would, when a REQ carries an invalid filter',
  },
  // §3-§5 (kp-req-*, kp-447-*, kp-handout-consume)
  'serve-unscoped': {
    breaks: ['kp-req-unscoped'],
    does: "serves a kind 443 filter that names no authors or ids by plain NIP-01 rules: everyone's stored KeyPackages, nothing consumed (a relay that scopes KeyPackages only when authors are named)",
  },
  'owner-oldest-first': {
    breaks: ['kp-req-owner'],
    does: "answers an owner's query for their own KeyPackages in hand-out order, oldest first, the filter's limit taking the oldest (a relay that serves every kind 443 query through its hand-out path)",
  },
  'limit-per-filter': {
    breaks: ['kp-req-handout'],
    does: "applies a REQ filter's limit (or max_per_query) to all the owners it names together, as NIP-01 applies limit per filter, not per owner: the first owners named take it all",
  },
  'one-shot-handout': {
    breaks: ['kp-req-eose'],
    does: "treats a REQ that asks for other people's KeyPackages as a one-shot query: after its EOSE the subscription is dropped without a CLOSED, so its live events never come",
  },
  'partial-refusal': {
    breaks: ['kp-req-refuse-whole'],
    does: "answers the filters of a REQ refused auth-required: that ask for no KeyPackages (e.g. a kind 1 filter next to a kind 443 one) before its CLOSED, instead of refusing the REQ whole",
  },
  'handout-mixed-kinds': {
    breaks: ['kp-req-scope'],
    does: 'hands out (consumes and charges) on any filter whose kinds include 443, as profile 0.1 did: a client\'s merged {"kinds":[1,443],"authors":[...]} filter takes KeyPackages it never asked for',
  },
  'ids-as-authors': {
    breaks: ['kp-req-scope'],
    does: "reads a kind 443 filter's ids only to find whose KeyPackages it asks for, then hands out those owners' oldest KeyPackages, named or not (a relay that turns ids into authors)",
  },
  'no-p-ok': {
    breaks: ['kp-447-form'],
    does: 'answers a kind 447 without a p tag OK true, as a request for nobody with nothing to deliver, instead of refusing it invalid:',
  },
  'handout-without-subscription': {
    breaks: ['kp-447-subscription'],
    does: "hands out (consumes and charges) a kind 447 even when no open subscription of the connection can receive the owner's KeyPackages: they go nowhere, and the OK says they were delivered (a relay that looks at subscriptions only when fanning out)",
  },
  'silent-empty-447': {
    breaks: ['kp-447-empty'],
    does: 'answers a kind 447 that finds nothing to deliver ["OK", <id>, true, ""]: no informative message says why nothing came',
  },
  'owner-447-consumes': {
    breaks: ['kp-447-owner'],
    does: "treats a kind 447 on a connection where the owner is also authenticated like anyone else's: it consumes the owner's KeyPackages and charges the signer (a relay that looks only at the request's signer)",
  },
  'store-447': {
    breaks: ['kp-447-not-stored'],
    does: 'stores every kind 447 request it answers, like any regular event, so a REQ can read it back (a relay that handles 447 and then falls through to its ordinary store)',
  },
  'form-before-auth': {
    breaks: ['kp-447-order'],
    does: "checks a kind 447's form before its signer's AUTH: an unauthenticated, malformed request is refused invalid: instead of auth-required:",
  },
  'soft-consume': {
    breaks: ['kp-handout-consume'],
    does: 'consumes a handed-out KeyPackage only by flagging it, as a soft-deleting relay does: no later hand-out gets it, but a filter naming it by id still returns it',
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
    breaks: ['kp-auth-challenge', 'mr-protected', 'mr-1059-serve'],
    does: 'sends no NIP-42 challenge, on connect or with its auth-required: refusals, so nobody can authenticate (as relays without NIP-42 do); its refusals of protected events and of gift-wrap reads come without a challenge too',
  },
  'no-auth-grace': {
    breaks: ['kp-auth-grace'],
    does: 'judges a KeyPackage REQ, kind 447 or protected event that arrives before the challenge is answered at once (auth-required:), instead of holding it for the AUTH during auth_grace_ms, which it still advertises',
  },
  'lazy-challenge': {
    breaks: ['kp-auth-challenge'],
    does: "sends the NIP-42 challenge only immediately before a connection's first auth-required: refusal (strfry's lazy AUTH): breaks only the SHOULD of kp-auth-challenge",
  },
  // §1–§2 faults (kp-auth-*, kp-pub-*), one per anchor.
  'any-challenge': {
    breaks: ['kp-auth-verify'],
    does: "accepts an AUTH event whose challenge tag names any challenge, e.g. another connection's, checking only that the tag is there",
  },
  'single-auth': {
    breaks: ['kp-auth-multi'],
    does: 'authenticates one pubkey per connection, the first: a valid AUTH for another pubkey on it is refused with invalid:',
  },
  'tag-allow-list': {
    breaks: ['kp-pub-accept'],
    does: "refuses a valid KeyPackage that carries a tag outside its allow-list of kind 443 tags (PROFILE.md's, NIP-EE's and Marmot MIP-00's), such as a NIP-31 alt tag",
  },
  'case-insensitive-id': {
    breaks: ['kp-pub-signature'],
    does: 'reads event ids as case-insensitive hex (as a verifier that decodes hex does), so an upper-case copy of a KeyPackage, even a consumed one, is accepted as a new event',
  },
  'unchecked-sig-443': {
    breaks: ['kp-pub-signature'],
    does: 'checks the id of a kind 443 but not its signature (trusting the MLS signature inside the KeyPackage), so it stores KeyPackages forged in anyone\'s name',
  },
  'unchecked-tags': {
    breaks: ['kp-pub-tags'],
    does: "checks a KeyPackage's content but none of its tags, so it stores KeyPackages without a version, ciphersuite or extensions tag (its MLS check compares the content with a ciphersuite tag only when there is one)",
  },
  'opaque-content': {
    breaks: ['kp-pub-content'],
    does: "stores a KeyPackage's content as opaque text: empty, non-hex or not in the encoding its tag names (only content that decodes goes through its MLS check)",
  },
  'mls-refusal-unprefixed': {
    breaks: ['kp-pub-mls'],
    does: 'refuses a KeyPackage whose content is not a usable MLS KeyPackage with a bare sentence, without the invalid: prefix (OK false "not a usable MLS KeyPackage: ...")',
  },
  'ignore-protected': {
    breaks: ['kp-pub-protected'],
    does: 'ignores the NIP-70 ["-"] tag on every kind but Marmot\'s (PROFILE-MARMOT.md), accepting protected KeyPackages and notes from anyone (as relays without NIP-70 do)',
  },
  'accept-expired': {
    breaks: ['kp-pub-expired'],
    does: 'accepts and stores events whose NIP-40 expiration already passed (it drops expired events only when serving)',
  },
  // marmot-relay/1 (PROFILE-MARMOT.md), one per mr- anchor.
  'marmot-keep-older': {
    breaks: ['mr-kp-replace'],
    does: 'keeps whichever version of an addressable slot (kind 30443) arrived last: an older version sent after a newer one replaces it, and of two versions with the same created_at the second wins, the higher id when it comes second (replaceable kinds keep NIP-01\'s rule)',
  },
  'marmot-serve-expired': {
    breaks: ['mr-445-expiration'],
    does: "stores a kind 445 as if it had no NIP-40 expiration, so it is served (and never swept) after its expiration passes; one that arrives already expired is still refused",
  },
  'marmot-consume-30443': {
    breaks: ['mr-coexist'],
    does: "hands out a filter whose kinds are 443 and 30443 together as a KeyPackage ask: the owner's kind 443 and 30443 events alike, oldest first, consumed and charged (a relay that puts both profiles' KeyPackages through one hand-out); a filter for 30443 alone is still served by marmot-relay/1",
  },
  'marmot-ignore-a-deletion': {
    breaks: ['mr-kp-delete'],
    does: 'ignores the a tags of a kind 5: a slot deleted by its owner is still served, and older versions are accepted again (e tags still delete)',
  },
  'marmot-protected-no-challenge': {
    breaks: ['mr-protected', 'kp-auth-challenge'],
    does: 'refuses protected (["-"]) Marmot events (kinds 30443, 445, 1059, 10050, 10002) from anyone with "blocked: event marked as protected", and sends no challenge on connect, as the popular relays MDK reports do; its challenge comes only before an auth-required: refusal (as lazy-challenge), so it also drops the SHOULD of kp-auth-challenge',
  },
  'marmot-gift-wrap-leak': {
    breaks: ['mr-1059-serve'],
    does: "serves every gift wrap (kind 1059) to any authenticated connection, recipient or not, while advertising gift_wrap_reads \"recipient\" (unauthenticated requests are still refused auth-required:)",
  },
  'marmot-drop-tag-values': {
    breaks: ['mr-kp-store'],
    does: 'serves kind 30443 events rebuilt from (name, value) rows, as relays that keep tags in a two-column table do: every tag keeps only its first value (mls_extensions loses the rest), so the event served is no longer the one signed',
  },
  'marmot-ignore-d-i-filters': {
    breaks: ['mr-kp-filters'],
    does: 'drops the #d and #i conditions of a filter for kind 30443, as a relay that indexes only the tags it knows and ignores conditions on others does: it answers with every KeyPackage the rest of the filter matches',
  },
  'marmot-consume-on-fetch': {
    breaks: ['mr-kp-no-consume', 'mr-coexist'],
    does: "hands out kind 30443 as NIP-EE hands out 443, though to anyone and without AUTH: each KeyPackage a REQ returns is then consumed (deleted, tombstoned), except the owner's last one; a filter for 30443 alone consumes too, so mr-coexist breaks with it",
  },
  'marmot-ignore-since': {
    breaks: ['mr-445-fetch'],
    does: "answers a kind 445 filter on #h from its tag index without the filter's since, as a relay whose tag lookup forgets the time bound does: a member resubscribing with since gets the group's older messages again",
  },
  'marmot-upsert-relay-lists': {
    breaks: ['mr-relay-lists'],
    does: "stores a relay list (kind 10050 or 10002) by an upsert on pubkey and kind: the version that arrived last is kept and served, even an older list sent after a newer one (kind 30443 slots keep NIP-01's rule)",
  },
} as const satisfies Record<string, Fault>;

export type FaultName = keyof typeof FAULTS;

export const FAULT_NAMES = Object.keys(FAULTS) as FaultName[];

export function isFaultName(name: string): name is FaultName {
  return Object.hasOwn(FAULTS, name);
}
