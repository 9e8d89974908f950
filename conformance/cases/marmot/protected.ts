/** PROFILE-MARMOT.md §5 `mr-protected`: a protected event is refused auth-required: with a challenge, so its author can authenticate. */
import type { ConformanceTest } from '../../types.js';
import { okLine } from '../../steps.js';
import type { Keys } from '../../../protocol/crypto.js';
import type { NostrEvent } from '../../../protocol/messages.js';
import { KIND, PREFIX, TAG, prefixOf } from '../../../protocol/profile.js';
import { marmotKeyPackage, relayList } from '../../../fixtures/marmot.js';
import { challengedBefore, marmotCase, short } from './steps.js';

const PROTECTED = [[TAG.protected]];

// NIP-70 asks for the AUTH flow; the profile names the refusal's prefix and when the challenge must come.
const head = { anchor: 'mr-protected', section: 'Marmot protected events', level: 'MUST', source: { profile: true, stricterThan: 'NIP-70' } } as const;

function protectedCase(side: string, what: string, build: (author: Keys) => Promise<NostrEvent>): ConformanceTest {
  return marmotCase({ ...head, side }, async (t) => {
    // The author sends a protected event on a fresh connection before any AUTH: it must be refused auth-required:,
    // with a challenge sent on the connection no later. The author then authenticates and sends it again: accepted passes;
    // refused again is recorded (the profile lets a relay refuse protected events).
    const author = t.newKeys();
    const event = await build(author);
    const client = await t.connect('author, not yet authenticated');
    const first = await client.publish(event);
    const challenged = challengedBefore(client, (m) => m[0] === 'OK' && m[1] === event.id);
    const refusal = '["OK", <id>, false, "auth-required: ..."] after ["AUTH", <challenge>]';
    t.check(!first.ok, `a protected ${what} (${short(event)}) was accepted on a connection where nobody is authenticated`, refusal, okLine(first));
    t.check(
      prefixOf(first.message) === PREFIX.authRequired,
      `a protected ${what} sent before AUTH was refused with ${JSON.stringify(first.message)}, not "auth-required:": its author cannot tell that authenticating lets it in`,
      refusal,
      okLine(first),
    );
    t.check(challenged, `the relay refused a protected ${what} auth-required: without having sent an AUTH challenge on the connection before it`, refusal, `${okLine(first)}, ${client.challenge === undefined ? 'no challenge' : 'the challenge after it'}`);
    const auth = await client.auth(author);
    if (!auth.ok) t.untested(`the relay refused the author's AUTH after asking for it: ${auth.message}`);
    const second = await client.publish(event);
    if (!second.ok) t.info(`the relay refuses a protected ${what} even from its authenticated author (${okLine(second)}): mr-protected allows it, but Marmot clients that protect their events cannot publish here`);
  });
}

export const protectedTests: ConformanceTest[] = [
  protectedCase('keypackage', 'KeyPackage (kind 30443)', (author) => marmotKeyPackage(author, { extraTags: PROTECTED })),
  protectedCase('inbox-relays', 'inbox relay list (kind 10050)', async (author) => relayList(author, KIND.inboxRelays, ['wss://inbox.example.com'], undefined, PROTECTED)),
];
