/** PROFILE.md §2 Publishing KeyPackages (kind 443). */
import { ids, type TestContext } from '../context.js';
import type { ConformanceTest } from '../types.js';
import { distinct, kpsText, okLine } from '../steps.js';
import { randomBytes } from 'node:crypto';
import { deletion, keyPackage, keyPackageTags, REQUIRED_TAGS, textNote } from '../../fixtures/events.js';
import { mlsKeyPackage } from '../../fixtures/mls.js';
import { nowSeconds, type RelayClient } from '../../client/relay-client.js';
import { newKeys, type Keys } from '../../protocol/crypto.js';
import type { NostrEvent } from '../../protocol/messages.js';
import { BASE64_ENCODING, HEX_ENCODING, KIND, PREFIX, prefixOf, TAG } from '../../protocol/profile.js';

const kp = KIND.keyPackage;

/** Publishes `event` and checks it is refused with `prefix:`. */
async function expectRefused(t: TestContext, client: RelayClient, event: NostrEvent, prefix: string, what: string): Promise<void> {
  const reply = await client.publish(event);
  t.check(!reply.ok, `${what} (${event.id.slice(0, 12)}) was accepted: ${okLine(reply)}`, `["OK", <id>, false, "${prefix}: ..."]`, okLine(reply));
  t.hasPrefix(reply.message, prefix, `the refusal of ${what}`);
}

/** Publishes `event` and checks it is accepted. */
async function expectAccepted(t: TestContext, client: RelayClient, event: NostrEvent, what: string): Promise<void> {
  const reply = await client.publish(event);
  t.check(reply.ok, `${what} (${event.id.slice(0, 12)}) was refused with ${JSON.stringify(reply.message)}`, '["OK", <id>, true, ""]', okLine(reply));
}

/** The owner's query must (or must not) list `event`. */
async function expectStored(t: TestContext, owner: Keys, event: NostrEvent, stored: boolean, what: string): Promise<void> {
  const inventory = await t.inventory(owner);
  const found = inventory.some((e) => e.id === event.id);
  t.check(
    found === stored,
    stored
      ? `the owner's query does not return ${what} (${event.id.slice(0, 12)}); it returned ${ids(inventory).length} KeyPackage(s): ${ids(inventory).join(', ') || 'none'}`
      : `the owner's query returned ${what} (${event.id.slice(0, 12)}): the relay stored it`,
    stored ? `${event.id.slice(0, 12)} among ${JSON.stringify(ids(inventory))}` : `${event.id.slice(0, 12)} absent`,
    JSON.stringify(ids(inventory)),
  );
}

/** A note that is not stored must not come back for its id. */
async function expectNoteNotStored(t: TestContext, client: RelayClient, event: NostrEvent, what: string): Promise<void> {
  const res = await client.req([{ ids: [event.id] }]);
  t.equal(ids(res.events), [], `a REQ for ${what} (${event.id.slice(0, 12)}) by id returned it: the relay stored it`, res.events[0]);
}

/** Breaks one bit of the signature's last hex digit. */
function withBadSig(event: NostrEvent): NostrEvent {
  const last = event.sig.endsWith('0') ? '1' : '0';
  return { ...event, sig: event.sig.slice(0, -1) + last };
}

const { version, ciphersuite, extensions } = REQUIRED_TAGS;

/** A KeyPackage shape the relay must refuse with invalid: and not store, or accept and store. */
function shapeCase(
  verdict: 'refused' | 'accepted',
  anchor: 'kp-pub-tags' | 'kp-pub-content',
  side: string,
  what: string,
  build: (owner: Keys) => Promise<NostrEvent>,
): ConformanceTest {
  return {
    id: `${anchor}/${side}`,
    anchor,
    section: 'Publishing',
    level: 'MUST',
    // A refusal must say "invalid:"; NIP-01 asks only for some machine-readable prefix.
    ...(verdict === 'refused' ? { source: { profile: true, stricterThan: 'NIP-01' } as const } : {}),
    async run(t) {
      const { client, keys: owner } = await t.connectAs('owner');
      const event = await build(owner);
      if (verdict === 'refused') await expectRefused(t, client, event, PREFIX.invalid, `a KeyPackage with ${what}`);
      else await expectAccepted(t, client, event, `a KeyPackage with ${what}`);
      await expectStored(t, owner, event, verdict === 'accepted', `a KeyPackage with ${what}`);
    },
  };
}
/**
 * kp-pub-mls: a KeyPackage no client can use. The relay may accept it (it
 * does not check MLS content; reported as information) or refuse it, and then
 * only with invalid: and without storing it.
 */
function unusable(side: string, what: string, build: (owner: Keys) => Promise<NostrEvent>): ConformanceTest {
  return {
    id: `kp-pub-mls/${side}`,
    anchor: 'kp-pub-mls',
    section: 'Publishing',
    level: 'MUST',
    source: { profile: true, stricterThan: 'NIP-01' },
    async run(t) {
      const { client, keys: owner } = await t.connectAs('owner');
      const event = await build(owner);
      const reply = await client.publish(event);
      if (reply.ok) {
        t.info(`the relay accepted a KeyPackage with ${what} (${event.id.slice(0, 12)}): it does not check MLS content, which kp-pub-mls leaves to it`);
      }
      t.hasPrefix(reply.message, PREFIX.invalid, `the refusal of a KeyPackage with ${what}`);
      await expectStored(t, owner, event, false, `a refused KeyPackage with ${what}`);
    },
  };
}

/** Genuine KeyPackage bytes for `owner`, changed by `edit`, as MIP-00 base64 content. */
async function editedContent(owner: Keys, edit: (bytes: Uint8Array) => Uint8Array): Promise<NostrEvent> {
  const { bytes } = await mlsKeyPackage(owner.pubkey);
  return keyPackage(owner, { content: Buffer.from(edit(bytes)).toString('base64') });
}

const mlsTests: ConformanceTest[] = [
  unusable('foreign-credential', "another pubkey's credential (Mallory publishes Bob's KeyPackage)", (owner) =>
    keyPackage(owner, { mls: { identity: Uint8Array.from(Buffer.from(newKeys().pubkey, 'hex')) } }),
  ),
  unusable('ciphersuite-mismatch', 'a ciphersuite tag of 0x0002 on 0x0001 content', (owner) => keyPackage(owner, { tags: keyPackageTags('mip00', '0x0002') })),
  unusable('truncated', 'content cut 16 bytes short', (owner) => editedContent(owner, (b) => b.slice(0, b.length - 16))),
  unusable('bad-signature', "content whose last byte (in the KeyPackage's signature) is changed", (owner) =>
    editedContent(owner, (b) => Uint8Array.from(b, (x, i) => (i === b.length - 1 ? x ^ 0x01 : x))),
  ),
  unusable('not-mls', 'base64 content that is not MLS (300 random bytes)', (owner) => keyPackage(owner, { content: randomBytes(300).toString('base64') })),
  {
    id: 'kp-pub-mls/bare',
    anchor: 'kp-pub-mls',
    section: 'Publishing',
    level: 'MUST',
    async run(t) {
      const { client, keys: owner } = await t.connectAs('owner');
      // A bare KeyPackage (not in an MLSMessage) is usable: the rule lets a relay refuse neither form.
      const event = await keyPackage(owner, { mls: { wrapped: false } });
      await expectAccepted(t, client, event, 'a genuine KeyPackage serialized bare, not in an MLSMessage');
      await expectStored(t, owner, event, true, 'a genuine bare KeyPackage');
    },
  },
];

const malformed = shapeCase.bind(undefined, 'refused');
const wellFormed = shapeCase.bind(undefined, 'accepted');

export const publishTests: ConformanceTest[] = [
  {
    id: 'kp-pub-accept/valid',
    anchor: 'kp-pub-accept',
    section: 'Publishing',
    level: 'MUST',
    async run(t) {
      const { client, keys: owner } = await t.connectAs('owner');
      const event = await keyPackage(owner);
      await expectAccepted(t, client, event, 'a valid KeyPackage');
      const extra = (await t.quiet(client)).filter((m) => m[0] === 'OK' && m[1] === event.id);
      t.equal(extra.length, 0, `the relay sent ${extra.length} more OK(s) for ${event.id.slice(0, 12)} after the first`, extra[0]);
      await expectStored(t, owner, event, true, 'a valid KeyPackage');
    },
  },
  {
    id: 'kp-pub-accept/other-tags',
    anchor: 'kp-pub-accept',
    section: 'Publishing',
    level: 'MUST',
    async run(t) {
      const { client, keys: owner } = await t.connectAs('owner');
      // A tag the profile does not name does not make a KeyPackage invalid; any event may carry a NIP-31 alt tag.
      const alt = ['alt', 'MLS KeyPackage'];
      const event = await keyPackage(owner, { extraTags: [alt] });
      await expectAccepted(t, client, event, `a valid KeyPackage that also carries ${JSON.stringify(alt)}`);
      await expectStored(t, owner, event, true, 'a valid KeyPackage with an alt tag');
    },
  },
  {
    id: 'kp-pub-signature/bad-sig',
    anchor: 'kp-pub-signature',
    section: 'Publishing',
    level: 'MUST',
    source: { profile: true, stricterThan: 'NIP-01' },
    async run(t) {
      const { client, keys: owner } = await t.connectAs('owner');
      const event = withBadSig(await keyPackage(owner));
      await expectRefused(t, client, event, PREFIX.invalid, 'a KeyPackage whose signature does not verify');
      await expectStored(t, owner, event, false, 'a KeyPackage whose signature does not verify');
    },
  },
  {
    id: 'kp-pub-signature/bad-id',
    anchor: 'kp-pub-signature',
    section: 'Publishing',
    level: 'MUST',
    source: { profile: true, stricterThan: 'NIP-01' },
    async run(t) {
      const { client, keys: owner } = await t.connectAs('owner');
      const original = await keyPackage(owner);
      // Same id and signature, other content: the id is no longer the hash of the event.
      const event = { ...original, content: (await keyPackage(owner)).content };
      await expectRefused(t, client, event, PREFIX.invalid, 'a KeyPackage whose id is not the hash of its serialization');
      await expectStored(t, owner, event, false, 'a KeyPackage whose id is not the hash of its serialization');
    },
  },
  {
    id: 'kp-pub-signature/upper-case-id',
    anchor: 'kp-pub-signature',
    section: 'Publishing',
    level: 'MUST',
    source: { profile: true, stricterThan: 'NIP-01' },
    async run(t) {
      const { client, keys: owner } = await t.connectAs('owner');
      // NIP-01 ids are lowercase hex; a relay that reads them case-insensitively stores a second copy of any event under a new id.
      const original = await keyPackage(owner);
      const event = { ...original, id: original.id.toUpperCase() };
      await expectRefused(t, client, event, PREFIX.invalid, 'a KeyPackage whose id is its hash in upper-case hex');
      await expectStored(t, owner, event, false, 'a KeyPackage whose id is in upper-case hex');
    },
  },
  {
    id: 'kp-pub-signature/any-kind',
    anchor: 'kp-pub-signature',
    section: 'Publishing',
    level: 'MUST',
    source: { profile: true, stricterThan: 'NIP-01' },
    async run(t) {
      const client = await t.connect('client');
      const event = withBadSig(textNote(t.newKeys(), 'a note with a broken signature'));
      await expectRefused(t, client, event, PREFIX.invalid, 'a kind 1 note whose signature does not verify');
      await expectNoteNotStored(t, client, event, 'a kind 1 note whose signature does not verify');
    },
  },
  malformed('kp-pub-tags', 'missing-version', 'no mls_protocol_version tag', (owner) => keyPackage(owner, { tags: [ciphersuite, extensions] })),
  malformed('kp-pub-tags', 'wrong-version', '["mls_protocol_version", "2.0"]', (owner) =>
    keyPackage(owner, { tags: [[TAG.mlsProtocolVersion, '2.0'], ciphersuite, extensions] }),
  ),
  malformed('kp-pub-tags', 'missing-ciphersuite', 'no ciphersuite tag', (owner) => keyPackage(owner, { tags: [version, extensions] })),
  malformed('kp-pub-tags', 'empty-ciphersuite', 'an empty ciphersuite value', (owner) =>
    keyPackage(owner, { tags: [version, [TAG.ciphersuite[0], ''], extensions] }),
  ),
  malformed('kp-pub-tags', 'missing-extensions', 'no extensions tag', (owner) => keyPackage(owner, { tags: [version, ciphersuite] })),
  wellFormed('kp-pub-tags', 'mls-prefixed', 'mls_ciphersuite and mls_extensions tags (Marmot spelling)', (owner) =>
    keyPackage(owner, { tags: [version, REQUIRED_TAGS.mlsCiphersuite, REQUIRED_TAGS.mlsExtensions] }),
  ),
  malformed('kp-pub-content', 'empty', 'empty content', (owner) => keyPackage(owner, { content: '' })),
  malformed('kp-pub-content', 'bad-hex', 'content that is not hex and no encoding tag', (owner) => keyPackage(owner, { form: 'nip-ee', content: 'zz11' + 'ab'.repeat(20) })),
  malformed('kp-pub-content', 'odd-hex', 'an odd number of hex digits and no encoding tag', (owner) => keyPackage(owner, { form: 'nip-ee', content: 'abc' })),
  malformed('kp-pub-content', 'bad-base64', '["encoding", "base64"] and content that is not base64', (owner) =>
    keyPackage(owner, { content: 'not base64 at all!' }),
  ),
  malformed('kp-pub-content', 'unknown-encoding', '["encoding", "base32"]', (owner) =>
    keyPackage(owner, { tags: [...keyPackageTags('nip-ee'), [TAG.encoding, 'base32']], content: 'ab'.repeat(24) }),
  ),
  wellFormed('kp-pub-content', 'base64', `["encoding", "${BASE64_ENCODING}"] and base64 content (Marmot MIP-00)`, (owner) => keyPackage(owner)),
  wellFormed('kp-pub-content', 'hex-untagged', 'hex content and no encoding tag (NIP-EE)', (owner) => keyPackage(owner, { form: 'nip-ee' })),
  wellFormed('kp-pub-content', 'hex-tagged', `["encoding", "${HEX_ENCODING}"] and hex content (Marmot MIP-00 lists it as valid)`, (owner) => keyPackage(owner, { form: 'hex-tagged' })),
  {
    id: 'kp-pub-protected/no-auth',
    anchor: 'kp-pub-protected',
    section: 'Publishing',
    level: 'MUST',
    source: { profile: true, stricterThan: 'NIP-01' },
    async run(t) {
      const owner = t.newKeys();
      const client = await t.connect('anon');
      const event = await keyPackage(owner, { extraTags: [[TAG.protected]] });
      await expectRefused(t, client, event, PREFIX.authRequired, 'a protected KeyPackage on a connection where nobody is authenticated');
      const auth = await client.auth(owner);
      if (!auth.ok) t.untested(`AUTH as the author was refused: ${auth.message}`);
      await t.quiet(client);
      await expectStored(t, owner, event, false, 'a refused protected KeyPackage, after its author authenticates later,');
    },
  },
  {
    id: 'kp-pub-protected/other-auth',
    anchor: 'kp-pub-protected',
    section: 'Publishing',
    level: 'MUST',
    source: { profile: true, stricterThan: 'NIP-01' },
    async run(t) {
      const owner = t.newKeys();
      const { client } = await t.connectAs('someone else');
      const event = await keyPackage(owner, { extraTags: [[TAG.protected]] });
      await expectRefused(t, client, event, PREFIX.authRequired, 'a protected KeyPackage on a connection where only someone else is authenticated');
      await expectStored(t, owner, event, false, 'a protected KeyPackage published by someone else');
    },
  },
  {
    id: 'kp-pub-protected/author-auth',
    anchor: 'kp-pub-protected',
    section: 'Publishing',
    level: 'MUST',
    async run(t) {
      const { client, keys: owner } = await t.connectAs('owner');
      const event = await keyPackage(owner, { extraTags: [[TAG.protected]] });
      await expectAccepted(t, client, event, 'a protected KeyPackage on a connection where its author is authenticated');
      await expectStored(t, owner, event, true, 'a protected KeyPackage published by its authenticated author');
    },
  },
  {
    id: 'kp-pub-protected/any-kind',
    anchor: 'kp-pub-protected',
    section: 'Publishing',
    level: 'MUST',
    source: { profile: true, stricterThan: 'NIP-01' },
    async run(t) {
      const client = await t.connect('anon');
      const event = textNote(t.newKeys(), 'a protected note', [[TAG.protected]]);
      await expectRefused(t, client, event, PREFIX.authRequired, 'a protected kind 1 note on a connection where nobody is authenticated');
      await expectNoteNotStored(t, client, event, 'a refused protected note');
    },
  },
  {
    id: 'kp-pub-expired/past',
    anchor: 'kp-pub-expired',
    section: 'Publishing',
    level: 'MUST',
    source: { profile: true, stricterThan: 'NIP-40' },
    async run(t) {
      const { client, keys: owner } = await t.connectAs('owner');
      const event = await keyPackage(owner, { extraTags: [[TAG.expiration, String(nowSeconds() - 60)]] });
      await expectRefused(t, client, event, PREFIX.invalid, 'a KeyPackage whose expiration passed a minute ago');
      await expectStored(t, owner, event, false, 'an expired KeyPackage');
    },
  },
  {
    id: 'kp-pub-expired/any-kind',
    anchor: 'kp-pub-expired',
    section: 'Publishing',
    level: 'MUST',
    source: { profile: true, stricterThan: 'NIP-40' },
    async run(t) {
      const client = await t.connect('anon');
      const event = textNote(t.newKeys(), 'an expired note', [[TAG.expiration, String(nowSeconds() - 60)]]);
      await expectRefused(t, client, event, PREFIX.invalid, 'a kind 1 note whose expiration passed a minute ago');
      await expectNoteNotStored(t, client, event, 'an expired note');
    },
  },
  {
    id: 'kp-pub-no-replay/consumed',
    anchor: 'kp-pub-no-replay',
    section: 'Publishing',
    level: 'MUST',
    async run(t: TestContext) {
      const owner = t.newKeys();
      const published = await t.publishKeyPackages(owner, 2);
      const { client } = await t.connectAs('requester');
      const res = await client.req([{ kinds: [kp], authors: [owner.pubkey], limit: 1 }]);
      // Republish the owner's signed original (what any holder of a copy has), whichever one was handed out.
      const handed = published.find((e) => e.id === res.events[0]?.id);
      if (handed === undefined) t.untested(`the REQ handed out none of the owner's KeyPackages to consume (${res.closed ?? 'EOSE with nothing'})`);
      // The rule is about a KeyPackage that was consumed: one the relay still stores is not (kp-handout-consume judges that).
      const before = await t.inventory(owner);
      if (before.some((e) => e.id === handed.id)) {
        t.untested(
          `the KeyPackage the REQ returned (${ids([handed])[0]}) is still in the owner's inventory (${kpsText(before)}): the relay did not consume it (judged by kp-handout-consume), so there is no consumed KeyPackage to republish`,
        );
      }
      await expectRefused(t, client, handed, PREFIX.duplicate, 'a consumed KeyPackage republished by the requester who got it');
      const after = await t.inventory(owner);
      t.check(
        !after.some((e) => e.id === handed.id),
        `after the requester republished the consumed ${ids([handed])[0]}, the owner's inventory holds it again (${kpsText(after)})`,
        `${ids([handed])[0]} absent`,
        JSON.stringify(ids(after)),
        after.find((e) => e.id === handed.id),
      );
    },
  },
  {
    id: 'kp-pub-no-replay/deleted',
    anchor: 'kp-pub-no-replay',
    section: 'Publishing',
    level: 'MUST',
    async run(t) {
      const owner = t.newKeys();
      // Two, so the deleted one is not the owner's last.
      const [first] = await t.publishKeyPackages(owner, 2);
      const { client } = await t.connectAs('owner', owner);
      const del = await client.publish(deletion(owner, [first!.id]));
      if (!del.ok) t.untested(`the owner's kind 5 deletion was refused (see kp-del-owner): ${del.message}`);
      // The rule is about a KeyPackage that was deleted: one the relay still stores is not (kp-del-owner judges that).
      const before = await t.inventory(owner);
      if (before.some((e) => e.id === first!.id)) {
        t.untested(`after the owner's accepted kind 5, ${ids([first!])[0]} is still in the owner's inventory (${kpsText(before)}): the relay did not delete it (judged by kp-del-owner), so there is no deleted KeyPackage to republish`);
      }
      await expectRefused(t, client, first!, PREFIX.duplicate, 'a deleted KeyPackage republished by its owner');
      const after = await t.inventory(owner);
      t.check(
        !after.some((e) => e.id === first!.id),
        `after the owner republished the deleted ${ids([first!])[0]}, the owner's inventory holds it again (${kpsText(after)})`,
        `${ids([first!])[0]} absent`,
        JSON.stringify(ids(after)),
        after.find((e) => e.id === first!.id),
      );
    },
  },
  {
    // NIP-01 lets an accepted event's OK message be empty ("MAY be an empty string when the 3rd is true") and shows
    // "duplicate: already have this event" only among its examples; the duplicate: answer is PROFILE.md's (§2.7).
    id: 'kp-pub-no-replay/stored-duplicate',
    anchor: 'kp-pub-no-replay',
    section: 'Publishing',
    level: 'SHOULD',
    source: { profile: true, stricterThan: 'NIP-01' },
    async run(t) {
      const { client, keys: owner } = await t.connectAs('owner');
      const event = await keyPackage(owner);
      await expectAccepted(t, client, event, 'a valid KeyPackage');
      const again = await client.publish(event);
      t.check(again.ok, `a KeyPackage the relay still stores (${event.id.slice(0, 12)}), sent again, was refused with ${JSON.stringify(again.message)}`, '["OK", <id>, true, "duplicate: ..."]', okLine(again));
      t.check(
        prefixOf(again.message) === PREFIX.duplicate,
        `the OK true for a KeyPackage the relay still stores (${event.id.slice(0, 12)}), sent again, said ${JSON.stringify(again.message)}, without the "duplicate:" prefix PROFILE.md §2.7 gives it (NIP-01 alone allows an empty message)`,
        '["OK", <id>, true, "duplicate: ..."]',
        okLine(again),
      );
    },
  },
  {
    id: 'kp-pub-no-broadcast/live-subscriptions',
    anchor: 'kp-pub-no-broadcast',
    section: 'Publishing',
    level: 'MUST',
    async run(t) {
      const owner = t.newKeys();
      const anon = await t.connect('anon watcher');
      const { client: bob } = await t.connectAs('bob watcher');
      const filters = [{ kinds: [kp] }, { kinds: [kp], authors: [owner.pubkey], limit: 0 }, { authors: [owner.pubkey] }];
      for (const watcher of [anon, bob]) {
        for (const filter of filters) {
          const res = await watcher.req([filter]);
          if (!res.eose) t.untested(`the relay refused the live subscription ${JSON.stringify(filter)}: ${res.closed ?? ''}`);
        }
      }
      const published = await t.publishKeyPackages(owner, 2);
      const [fromAnon, fromBob] = await Promise.all([t.quiet(anon), t.quiet(bob)]);
      for (const [who, frames] of [
        ['an unauthenticated connection', fromAnon],
        ['a connection where only bob is authenticated', fromBob],
      ] as const) {
        const leaked = frames.flatMap((m) => (m[0] === 'EVENT' && m[2].kind === kp && m[2].pubkey === owner.pubkey ? [m[2]] : []));
        t.equal(
          ids(leaked),
          [],
          `the owner's new ${kpsText(distinct(leaked))} reached the live {kinds:[443]}, {kinds:[443],authors:[owner],limit:0} or {authors:[owner]} subscriptions of ${who} (${leaked.length} EVENTs; ${published.length} published)`,
          leaked[0],
        );
      }
    },
  },
  ...mlsTests,
];
