/** PROFILE-MARMOT.md §3 Welcomes (kind 1059 gift wraps): accepted without AUTH, served to the recipient. */
import type { ConformanceTest } from '../../types.js';
import type { Filter } from '../../../protocol/messages.js';
import { KIND, PREFIX, prefixOf } from '../../../protocol/profile.js';
import { giftWrap } from '../../../fixtures/marmot.js';
import { reqOnce } from '../../steps.js';
import { answerText, challengedBefore, inSection, publishAll, short } from './steps.js';

const welcomeCase = inSection('Marmot Welcomes (kind 1059)');

/** How a client subscribes to its Welcomes: `{"kinds": [1059], "#p": [<recipient>]}`. */
const inboxOf = (recipient: string): Filter => ({ kinds: [KIND.giftWrap], '#p': [recipient] });

export const welcomeTests: ConformanceTest[] = [
  welcomeCase({ anchor: 'mr-1059-serve', side: 'accepted-without-auth', level: 'MUST' }, async (t) => {
    // A Welcome gift-wrapped for Bob (signed by NIP-59's fresh key), sent with nobody authenticated, is accepted.
    const wrap = giftWrap(t.newKeys(), t.newKeys().pubkey);
    await publishAll(t, [wrap], { what: 'a gift-wrapped Welcome, nobody authenticated,' });
  }),
  welcomeCase({ anchor: 'mr-1059-serve', side: 'served-to-recipient', level: 'MUST' }, async (t) => {
    // A Welcome for Bob; a reader nobody authenticated asks for Bob's gift wraps. Either it is served (reads: anyone),
    // or the REQ is CLOSED auth-required: with the challenge sent no later; then Bob authenticates on that connection
    // and gets it, and another authenticated pubkey does not (reads: recipient).
    const bob = t.newKeys();
    const wrap = giftWrap(t.newKeys(), bob.pubkey);
    await publishAll(t, [wrap], { what: 'a gift-wrapped Welcome', judgedBy: 'mr-1059-serve/accepted-without-auth' });
    const reader = await t.connect('bob, not yet authenticated');
    const first = await reader.req([inboxOf(bob.pubkey)]);
    if (first.eose) {
      t.check(first.events.some((e) => e.id === wrap.id), `an unauthenticated REQ for Bob's gift wraps ${answerText(first)}: without ${short(wrap)}, and not CLOSED auth-required:`, `${short(wrap)} then EOSE, or ["CLOSED", <sub>, "auth-required: ..."]`, answerText(first));
      t.note('the relay serves gift wraps to anyone (gift_wrap_reads "anyone")');
      return;
    }
    const closed = first.closed ?? '';
    t.check(prefixOf(closed) === PREFIX.authRequired, `an unauthenticated REQ for Bob's gift wraps ${answerText(first)}, not CLOSED auth-required:`, '["CLOSED", <sub>, "auth-required: ..."]', answerText(first));
    const challenged = challengedBefore(reader, (m) => m[0] === 'CLOSED' && m[1] === first.subId);
    t.check(challenged, `the relay closed an unauthenticated REQ for gift wraps auth-required: without having sent a challenge on the connection before it`, '["AUTH", <challenge>] no later than the CLOSED', reader.challenge === undefined ? 'no AUTH challenge' : 'the AUTH challenge after the CLOSED');
    const auth = await reader.auth(bob);
    if (!auth.ok) t.untested(`the relay refused Bob's AUTH after asking for it: ${auth.message}`);
    const mine = await reqOnce(reader, [inboxOf(bob.pubkey)]);
    t.check(mine.eose && mine.events.some((e) => e.id === wrap.id), `once Bob authenticated, his REQ for his gift wraps ${answerText(mine)}, without ${short(wrap)}`, `${short(wrap)} then EOSE`, answerText(mine));
    const { client: other } = await t.connectAs('someone else');
    const theirs = await reqOnce(other, [inboxOf(bob.pubkey)]);
    const leaked = theirs.events.find((e) => e.id === wrap.id);
    t.check(leaked === undefined, `the relay serves gift wraps to their authenticated recipient only, yet another authenticated pubkey's REQ for Bob's gift wraps ${answerText(theirs)}`, `no ${short(wrap)}`, answerText(theirs), leaked);
    t.note('the relay serves gift wraps to their authenticated recipient only (gift_wrap_reads "recipient")');
  }),
];
