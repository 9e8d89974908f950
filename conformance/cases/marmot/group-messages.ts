/** PROFILE-MARMOT.md §2 Group messages (kind 445): from fresh keys without AUTH, served by #h, gone once expired. */
import type { TestContext } from '../../context.js';
import type { ConformanceTest } from '../../types.js';
import { eventsText, okLine } from '../../steps.js';
import { nowSeconds } from '../../../client/relay-client.js';
import type { Filter, NostrEvent } from '../../../protocol/messages.js';
import { KIND } from '../../../protocol/profile.js';
import { groupMessage, newGroupId } from '../../../fixtures/marmot.js';
import { anyoneFetches, exactly, fetchOn, inSection, publishAll, short } from './steps.js';

const groupCase = inSection('Marmot group messages (kind 445)');

/** How a member subscribes to a group: `{"kinds": [445], "#h": [<routing id>]}`. */
const ofGroup = (h: string, extra: Filter = {}): Filter => ({ kinds: [KIND.groupMessage], '#h': [h], ...extra });

/** Two messages of group `h`, each from a fresh key, 10 s apart, the newer a minute ago. */
function twoMessages(h: string): [NostrEvent, NostrEvent] {
  const newest = nowSeconds() - 60;
  return [groupMessage(h, { createdAt: newest - 10 }), groupMessage(h, { createdAt: newest })];
}

/** Past its expiration, a relay's clock may lag ours: the first look is this long after it, and looks go on every POLL_MS until GRACE_MS after it. */
const FIRST_LOOK_MS = 500;
const POLL_MS = 500;
const GRACE_MS = 3000;

/**
 * Asks for `filter` on one connection from FIRST_LOOK_MS after `expiration`
 * (unix seconds) every POLL_MS until `event` is gone or GRACE_MS have passed:
 * a bounded wait, each step noted. What the last look returned, and when.
 */
async function lookAfterExpiry(t: TestContext, filter: Filter, event: NostrEvent, expiration: number): Promise<{ got: NostrEvent[]; afterMs: number; looks: number }> {
  const reader = await t.connect('reader');
  const expiresAtMs = expiration * 1000;
  for (let looks = 1, at = expiresAtMs + FIRST_LOOK_MS; ; looks++, at += POLL_MS) {
    const waitMs = Math.max(0, at - Date.now());
    t.note(`waiting ${waitMs} ms, to ${at - expiresAtMs} ms after expiration ${expiration}`);
    t.waitedMs += waitMs;
    await new Promise((resolve) => setTimeout(resolve, waitMs));
    const got = await fetchOn(t, reader, filter, `a REQ by #h ${at - expiresAtMs} ms after the expiration`);
    if (!got.some((e) => e.id === event.id) || at >= expiresAtMs + GRACE_MS) return { got, afterMs: Date.now() - expiresAtMs, looks };
  }
}

export const groupMessageTests: ConformanceTest[] = [
  groupCase({ anchor: 'mr-445-fetch', side: 'h-without-auth', level: 'MUST' }, async (t) => {
    // Two messages of one group and one of another, each from a fresh key, published with nobody authenticated;
    // a reader nobody authenticated asks for the group by #h and gets exactly its two.
    const h = newGroupId();
    const mine = twoMessages(h);
    const other = groupMessage(newGroupId(), { createdAt: mine[0].created_at });
    await publishAll(t, [...mine, other], { what: 'a group message from a fresh key, nobody authenticated,' });
    const got = await anyoneFetches(t, ofGroup(h), 'a REQ for the group by #h');
    exactly(t, got, mine, `a REQ for the group's kind 445 by #h (another group's ${short(other)} posted too)`);
  }),
  groupCase({ anchor: 'mr-445-fetch', side: 'since', level: 'MUST' }, async (t) => {
    // Two messages of one group, 10 s apart; #h with since = the newer one's created_at returns the newer one alone.
    const h = newGroupId();
    const [older, newer] = twoMessages(h);
    await publishAll(t, [older, newer], { what: 'a group message', judgedBy: 'mr-445-fetch/h-without-auth' });
    const got = await anyoneFetches(t, ofGroup(h, { since: newer.created_at }), 'a REQ by #h with since');
    exactly(t, got, [newer], `a REQ by #h with since ${newer.created_at} (${short(older)} 10 s before it, ${short(newer)} at it)`);
  }),
  groupCase({ anchor: 'mr-445-expiration', side: 'passes', level: 'SHOULD' }, async (t) => {
    // A message whose expiration is 2-3 s ahead is served; once it has passed (looking from 0.5 s to 3 s after), it is not.
    const h = newGroupId();
    const expiration = nowSeconds() + 3;
    const message = groupMessage(h, { expiration });
    await publishAll(t, [message], { what: 'a group message expiring in 2-3 s', judgedBy: 'mr-445-fetch' });
    const before = await anyoneFetches(t, ofGroup(h), 'a REQ by #h before the expiration');
    if (!before.some((e) => e.id === message.id)) t.untested(`before its expiration, a REQ by #h returned ${eventsText(before)}, not ${short(message)} (judged by mr-445-fetch)`);
    const { got, afterMs, looks } = await lookAfterExpiry(t, ofGroup(h), message, expiration);
    const still = got.find((e) => e.id === message.id);
    t.check(
      still === undefined,
      `${short(message)} was still served ${afterMs} ms after its expiration ${expiration} passed (${looks} REQs from ${FIRST_LOOK_MS} ms after it, every ${POLL_MS} ms)`,
      `${short(message)} not served once its expiration has passed`,
      eventsText(got),
      still,
    );
  }),
  groupCase({ anchor: 'mr-445-expiration', side: 'already-expired', level: 'SHOULD' }, async (t) => {
    // A message whose expiration passed a minute ago is refused, or at least never served.
    const h = newGroupId();
    const message = groupMessage(h, { expiration: nowSeconds() - 60 });
    const reply = await (await t.connect('sender')).publish(message);
    if (!reply.ok) return;
    const got = await anyoneFetches(t, ofGroup(h), 'a REQ by #h');
    const served = got.find((e) => e.id === message.id);
    t.check(served === undefined, `a group message whose expiration passed a minute ago (${short(message)}) was accepted (${okLine(reply)}) and then served`, 'refused, or at least not served', eventsText(got), served);
    t.note('accepted but not served: NIP-40 asks relays to drop it, serving it would break the rule');
  }),
];
