/** PROFILE-MARMOT.md §1 KeyPackages (kind 30443): stored, replaced per slot, found by #d and #i, never consumed. */
import type { TestContext } from '../../context.js';
import type { ConformanceTest } from '../../types.js';
import { okLine } from '../../steps.js';
import { nowSeconds, type RelayClient } from '../../../client/relay-client.js';
import type { Keys } from '../../../protocol/crypto.js';
import type { Filter, NostrEvent } from '../../../protocol/messages.js';
import { KIND, PREFIX, TAG, prefixOf } from '../../../protocol/profile.js';
import { marmotKeyPackage, newSlot, tagValue } from '../../../fixtures/marmot.js';
import { anyoneFetches, exactly, fetchOn, inSection, publishAll, publishOn, sendAsClient, short, type CaseHead } from './steps.js';

/** NIP-01: the lowest id "should be retained", single-letter tags "are expected to be indexed"; the profile makes both MUST. */
const STRICTER_THAN_NIP01 = { profile: true, stricterThan: 'NIP-01' } as const;

/** How a client fetches an account's KeyPackages: `{"kinds": [30443], "authors": [<pubkey>]}`. */
export function ofOwner(owner: Keys, extra: Filter = {}): Filter {
  return { kinds: [KIND.marmotKeyPackage], authors: [owner.pubkey], ...extra };
}

/** Versions of one slot, `seconds` apart and oldest first, ending a minute in the past (no relay refuses them as future). */
export async function versions(owner: Keys, count: number, d = newSlot(), seconds = 10): Promise<NostrEvent[]> {
  const newest = nowSeconds() - 60;
  const out: NostrEvent[] = [];
  for (let i = count - 1; i >= 0; i--) out.push(await marmotKeyPackage(owner, { d, createdAt: newest - i * seconds }));
  return out;
}

/** Publishes each KeyPackage as its owner; a refusal is mr-kp-store's to judge. */
export function ownerPublishes(t: TestContext, owner: Keys, events: readonly NostrEvent[]): Promise<RelayClient> {
  return publishAll(t, events, { author: owner, what: "the owner's KeyPackage", judgedBy: 'mr-kp-store' });
}

/** One KeyPackage in each of `count` new slots, published by the owner. */
export async function slots(t: TestContext, owner: Keys, count: number): Promise<NostrEvent[]> {
  const kps = await Promise.all(Array.from({ length: count }, () => marmotKeyPackage(owner)));
  await ownerPublishes(t, owner, kps);
  return kps;
}

/** The owner's KeyPackages as anyone sees them. */
export function servedOf(t: TestContext, owner: Keys): Promise<NostrEvent[]> {
  return anyoneFetches(t, ofOwner(owner), "a REQ for the owner's KeyPackages");
}

/** Slot A's version 1, slot B, then A's version 2 (10 s newer than 1), published by the owner. */
async function slotAReplacedAndB(t: TestContext, owner: Keys): Promise<{ a1: NostrEvent; a2: NostrEvent; b: NostrEvent }> {
  const [a1, a2] = await versions(owner, 2);
  const [b] = await versions(owner, 1);
  await ownerPublishes(t, owner, [a1!, b!, a2!]);
  return { a1: a1!, a2: a2!, b: b! };
}

/** "3f2a9c1b07de then 9c1b07de3f2a": events in the order they were sent. */
const inOrder = (events: readonly NostrEvent[]): string => events.map(short).join(' then ');

const inKeyPackages = inSection('Marmot KeyPackages (kind 30443)');
const kpCase = (head: Omit<CaseHead, 'section' | 'level'>, run: (t: TestContext) => Promise<void>): ConformanceTest => inKeyPackages({ ...head, level: 'MUST' }, run);

/** mr-kp-replace: two versions of one slot with the same created_at arrive, the lower id first or second; the lower id is kept either way. */
const sameCreatedAt = (order: 'lower-first' | 'higher-first'): ConformanceTest =>
  kpCase({ anchor: 'mr-kp-replace', side: `same-created-at-${order}`, source: STRICTER_THAN_NIP01 }, async (t) => {
    // Two versions of one slot, same created_at, sent in `order`; a reader must get the lower id only.
    const owner = t.newKeys();
    const d = newSlot();
    const createdAt = nowSeconds() - 60;
    const [lower, higher] = (await Promise.all([0, 1].map(() => marmotKeyPackage(owner, { d, createdAt })))).sort((a, b) => (a.id < b.id ? -1 : 1));
    const sent = order === 'lower-first' ? [lower!, higher!] : [higher!, lower!];
    const client = await ownerPublishes(t, owner, [sent[0]!]);
    // The second may be accepted or refused; only what is served is judged.
    const second = await sendAsClient(t, client, sent[1]!, owner);
    t.note(`the second version ${short(sent[1]!)} was answered ${okLine(second)}`);
    exactly(t, await servedOf(t, owner), [lower!], `two versions of one slot with the same created_at arrived ${inOrder(sent)}; a REQ for the owner's KeyPackages`);
  });

/** mr-kp-no-consume: three fetches of the owner's KeyPackages over two connections (`side`), each returning every slot. */
const fetchedAgain = (side: 'unauthenticated' | 'authenticated'): ConformanceTest =>
  kpCase({ anchor: 'mr-kp-no-consume', side }, async (t) => {
    // The owner fills two slots; two readers (side) fetch them three times, first, second, first again; every fetch returns both.
    const owner = t.newKeys();
    const kps = await slots(t, owner, 2);
    const readers = side === 'unauthenticated' ? [await t.connect('reader 1'), await t.connect('reader 2')] : [(await t.connectAs('reader 1')).client, (await t.connectAs('reader 2')).client];
    for (const [n, i] of [0, 1, 0].entries()) {
      const what = `fetch ${n + 1} of 3 (reader ${i + 1}, ${side}) of the owner's ${kps.length} KeyPackages`;
      exactly(t, await fetchOn(t, readers[i]!, ofOwner(owner), what), kps, what);
    }
  });

export const keyPackageTests: ConformanceTest[] = [
  kpCase({ anchor: 'mr-kp-store', side: 'served-as-published' }, async (t) => {
    // The owner publishes a KeyPackage (Marmot's tags, base64 content, no encoding tag) in a new slot;
    // a reader nobody authenticated asks for the owner's KeyPackages and gets it, every field as sent.
    const owner = t.newKeys();
    const [kp] = await versions(owner, 1);
    await publishAll(t, [kp!], { author: owner, what: 'a KeyPackage in a new slot' });
    const got = await servedOf(t, owner);
    exactly(t, got, [kp!], "a REQ for the owner's KeyPackages");
    t.sameEvents(got, [kp!], `the relay served ${short(kp!)} changed: some field differs from the event published`, got[0]);
  }),
  kpCase({ anchor: 'mr-kp-replace', side: 'newer-replaces' }, async (t) => {
    // Version 1 of a slot, then version 2 (10 s newer): version 2 is accepted and is the only one served.
    const owner = t.newKeys();
    const [v1, v2] = await versions(owner, 2);
    const client = await ownerPublishes(t, owner, [v1!]);
    await publishOn(t, client, v2!, { author: owner, what: 'a newer version of a slot' });
    exactly(t, await servedOf(t, owner), [v2!], `after version ${short(v1!)} and the newer ${short(v2!)} of one slot, a REQ for the owner's KeyPackages`);
  }),
  kpCase({ anchor: 'mr-kp-replace', side: 'older-after-newer' }, async (t) => {
    // Version 2 of a slot, then the older version 1: version 1 is not served, and its OK says so ("duplicate:" or false).
    const owner = t.newKeys();
    const [v1, v2] = await versions(owner, 2);
    const client = await ownerPublishes(t, owner, [v2!]);
    const reply = await sendAsClient(t, client, v1!, owner);
    exactly(t, await servedOf(t, owner), [v2!], `the older version ${short(v1!)} arrived after ${short(v2!)} (answered ${okLine(reply)}); then a REQ for the owner's KeyPackages`);
    t.check(
      !reply.ok || prefixOf(reply.message) === PREFIX.duplicate,
      `the older version ${short(v1!)}, arriving after ${short(v2!)}, was answered ${okLine(reply)}: an OK true that does not say "duplicate:" tells the client it is stored`,
      '["OK", <id>, true, "duplicate: ..."] or ["OK", <id>, false, "..."]',
      okLine(reply),
    );
  }),
  sameCreatedAt('lower-first'),
  sameCreatedAt('higher-first'),
  kpCase({ anchor: 'mr-kp-replace', side: 'other-slots' }, async (t) => {
    // Slots A and B, then a newer version of A: a reader gets A's new version and B, untouched.
    const owner = t.newKeys();
    const { a1, a2, b } = await slotAReplacedAndB(t, owner);
    exactly(t, await servedOf(t, owner), [a2, b], `after slot A (${short(a1)}) was replaced by ${short(a2)}, a REQ for the owner's KeyPackages, with slot B (${short(b)}) untouched,`);
  }),
  kpCase({ anchor: 'mr-kp-filters', side: 'd', source: STRICTER_THAN_NIP01 }, async (t) => {
    // Slot A (two versions) and slot B; {"kinds": [30443], "#d": [A]} returns A's current version and nothing else.
    const { a1, a2, b } = await slotAReplacedAndB(t, t.newKeys());
    const d = tagValue(a2, TAG.identifier);
    const got = await anyoneFetches(t, { kinds: [KIND.marmotKeyPackage], '#d': [d] }, `a REQ for #d ${d.slice(0, 12)}`);
    exactly(t, got, [a2], `a REQ for slot A by #d (versions ${short(a1)}, then ${short(a2)}; slot B ${short(b)})`);
  }),
  kpCase({ anchor: 'mr-kp-filters', side: 'i', source: STRICTER_THAN_NIP01 }, async (t) => {
    // Slot A (version 1 replaced by 2) and slot B; #i naming A's old KeyPackageRef and B's returns B alone.
    const { a1, b } = await slotAReplacedAndB(t, t.newKeys());
    const refs = [a1, b].map((e) => tagValue(e, TAG.keyPackageRef));
    const got = await anyoneFetches(t, { kinds: [KIND.marmotKeyPackage], '#i': refs }, 'a REQ by #i');
    exactly(t, got, [b], `a REQ by #i for the KeyPackageRefs of the replaced ${short(a1)} and of ${short(b)}`);
  }),
  fetchedAgain('unauthenticated'),
  fetchedAgain('authenticated'),
];
