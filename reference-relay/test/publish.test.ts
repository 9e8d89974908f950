/** PROFILE.md §2 Publishing KeyPackages (kind 443). */
import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { newKeys, type Keys } from '../../protocol/crypto.js';
import type { NostrEvent } from '../../protocol/messages.js';
import { KIND, PREFIX, TAG, prefixOf } from '../../protocol/profile.js';
import { inventory, publishKeyPackages } from '../../client/choreography.js';
import { deletion, keyPackage, keyPackages, keyPackageTags, REQUIRED_TAGS, textNote, type KeyPackageForm, type KeyPackageOptions } from '../../fixtures/events.js';
import { nowSeconds } from '../../client/relay-client.js';
import { idsOf, liveSub, sharedRelay, withBadId, withBadSig } from './harness.js';

const relay = sharedRelay();
const pool = relay.pool;
// For the tests of a refusal itself: a relay that judges at once, without kp-auth-grace's wait (tested in auth-grace.test.ts).
const judgedAtOnce = sharedRelay({ authGraceMs: 0 });

describe('kp-pub-accept', () => {
  it('kp-pub-accept: a valid KeyPackage gets exactly one OK true with an empty message and is stored', async () => {
    const owner = newKeys();
    const client = await pool.connectAs(relay.url, owner);
    const kp = await keyPackage(owner);
    expect(await client.publish(kp)).toEqual({ ok: true, message: '' });
    const more = await client.quietFor(200);
    expect(more.filter((m) => m[0] === 'OK')).toEqual([]);
    expect(await inventory(relay.url, owner, pool.opts)).toEqual([kp]);
  });

  const forms: [string, KeyPackageForm][] = [
    ['base64 content with ["encoding","base64"] (MIP-00)', 'mip00'],
    ['hex content without an encoding tag (NIP-EE)', 'nip-ee'],
    ['hex content with ["encoding","hex"]', 'hex-tagged'],
  ];
  for (const [what, form] of forms) {
    it(`kp-pub-content: a KeyPackage with ${what} is accepted and stored`, async () => {
      const owner = newKeys();
      const client = await pool.connect(relay.url);
      const kp = await keyPackage(owner, { form });
      expect(await client.publish(kp)).toEqual({ ok: true, message: '' });
      expect(idsOf(await inventory(relay.url, owner, pool.opts))).toEqual([kp.id]);
    });
  }

  it('kp-pub-accept: the Marmot tag names mls_ciphersuite and mls_extensions are accepted', async () => {
    const owner = newKeys();
    const client = await pool.connect(relay.url);
    const kp = await keyPackage(owner, {
      tags: [REQUIRED_TAGS.version, REQUIRED_TAGS.mlsCiphersuite, REQUIRED_TAGS.mlsExtensions],
    });
    const reply = await client.publish(kp);
    expect(reply).toEqual({ ok: true, message: '' });
    expect(idsOf(await inventory(relay.url, owner, pool.opts))).toEqual([kp.id]);
  });
});

describe('kp-pub-signature', () => {
  const cases = [
    ['a KeyPackage with a bad signature', withBadSig],
    ['a KeyPackage whose id is not its hash', withBadId],
  ] as const;
  for (const [what, breakIt] of cases) {
    it(`kp-pub-signature: ${what} gets OK false "invalid:" and is not stored`, async () => {
      const owner = newKeys();
      const client = await pool.connectAs(relay.url, owner);
      const bad = breakIt(await keyPackage(owner));
      const reply = await client.publish(bad);
      expect(reply.ok).toBe(false);
      expect(prefixOf(reply.message)).toBe(PREFIX.invalid);
      expect(await inventory(relay.url, owner, pool.opts)).toEqual([]);
    });
  }

  it('kp-pub-signature: an event of another kind (1) with a bad signature gets OK false "invalid:" and is not stored', async () => {
    const author = newKeys();
    const client = await pool.connect(relay.url);
    const reply = await client.publish(withBadSig(textNote(author)));
    expect(reply.ok).toBe(false);
    expect(prefixOf(reply.message)).toBe(PREFIX.invalid);
    const res = await client.req([{ authors: [author.pubkey] }]);
    expect(res.events).toEqual([]);
  });
});

describe('kp-pub-tags', () => {
  const required = keyPackageTags('nip-ee'); // NIP-EE's tag names, hex content
  const without = (name: string): string[][] => required.filter((t) => t[0] !== name);
  const [ciphersuite, extensions] = [TAG.ciphersuite[0], TAG.extensions[0]];
  const cases: [string, string[][], string][] = [
    ['no mls_protocol_version tag', without(TAG.mlsProtocolVersion), TAG.mlsProtocolVersion],
    ['mls_protocol_version "2.0"', [[TAG.mlsProtocolVersion, '2.0'], ...without(TAG.mlsProtocolVersion)], TAG.mlsProtocolVersion],
    ['no ciphersuite tag', without(ciphersuite), ciphersuite],
    ['an empty ciphersuite value', [...without(ciphersuite), [ciphersuite, '']], ciphersuite],
    ['no extensions tag', without(extensions), extensions],
    ['an extensions tag without a value', [...without(extensions), [extensions]], extensions],
  ];
  for (const [what, tags, tagName] of cases) {
    it(`kp-pub-tags: a KeyPackage with ${what} gets OK false "invalid:" naming the tag, and nothing is stored`, async () => {
      const owner = newKeys();
      const client = await pool.connect(relay.url);
      const reply = await client.publish(await keyPackage(owner, { tags }));
      expect(reply.ok).toBe(false);
      expect(prefixOf(reply.message)).toBe(PREFIX.invalid);
      expect(reply.message).toContain(tagName);
      expect(await inventory(relay.url, owner, pool.opts)).toEqual([]);
    });
  }
});

describe('kp-pub-content', () => {
  const cases: [string, KeyPackageOptions & { content: string }][] = [
    ['empty content', { form: 'nip-ee', content: '' }],
    ['an odd number of hex digits', { form: 'nip-ee', content: 'abc' }],
    ['non-hex content without an encoding tag', { form: 'nip-ee', content: 'zz11' }],
    ['base64 content without an encoding tag', { form: 'nip-ee', content: 'aGVsbG8gd29ybGQ=' }],
    ['non-hex content although the encoding tag says hex', { form: 'hex-tagged', content: 'zz11' }],
    ['content that is not base64 although the encoding tag says base64', { form: 'mip00', content: 'not base64!' }],
    ['empty content with the base64 encoding tag', { form: 'mip00', content: '' }],
    ['an unknown encoding', { form: 'nip-ee', content: 'abcd', extraTags: [[TAG.encoding, 'base85']] }],
  ];
  for (const [what, opts] of cases) {
    it(`kp-pub-content: a KeyPackage with ${what} gets OK false "invalid:" from the content check and is not stored`, async () => {
      const owner = newKeys();
      const client = await pool.connect(relay.url);
      const reply = await client.publish(await keyPackage(owner, opts));
      expect(reply.ok).toBe(false);
      expect(prefixOf(reply.message)).toBe(PREFIX.invalid);
      expect(reply.message).not.toContain('MLS'); // refused for its encoding, before the MLS check (kp-pub-mls)
      expect(await inventory(relay.url, owner, pool.opts)).toEqual([]);
    });
  }
});

describe('kp-pub-mls', () => {
  /** The genuine content of a fresh KeyPackage of `keys`, cut short by `drop` bytes (base64, MIP-00). */
  async function truncated(keys: Keys, drop: number): Promise<string> {
    const bytes = Buffer.from((await keyPackage(keys)).content, 'base64');
    return bytes.subarray(0, bytes.length - drop).toString('base64');
  }
  const unusable: [string, string, (mallory: Keys, bob: Keys) => Promise<NostrEvent>][] = [
    ["Mallory's event carrying Bob's credential", "the credential identity is not the event's pubkey", (m, b) => keyPackage(m, { mls: { identity: Buffer.from(b.pubkey, 'hex') } })],
    ['a ciphersuite 0x0002 tag on 0x0001 content', 'the ciphersuite tag says 0x0002 but the KeyPackage is 0x0001', (m) => keyPackage(m, { tags: keyPackageTags('mip00', '0x0002') })],
    ['a truncated KeyPackage', 'not a serialized MLS KeyPackage', async (m) => keyPackage(m, { content: await truncated(m, 16) })],
    ['random bytes', 'not a serialized MLS KeyPackage', (m) => keyPackage(m, { content: randomBytes(240).toString('base64') })],
  ];
  const checking = relay;
  const trusting = sharedRelay({ mlsChecks: false });

  for (const [what, says, build] of unusable) {
    it(`kp-pub-mls: ${what} is refused "invalid:" saying so, and not stored`, async () => {
      const [mallory, bob] = [newKeys(), newKeys()];
      const client = await checking.pool.connectAs(checking.url, mallory);
      const reply = await client.publish(await build(mallory, bob));
      expect(reply.ok).toBe(false);
      expect(prefixOf(reply.message)).toBe(PREFIX.invalid);
      expect(reply.message).toContain(`not a usable MLS KeyPackage: `);
      expect(reply.message).toContain(says);
      expect(await inventory(checking.url, mallory, checking.pool.opts)).toEqual([]);
    });

    it(`kp-pub-mls: with mlsChecks off, ${what} is accepted and stored`, async () => {
      const [mallory, bob] = [newKeys(), newKeys()];
      const client = await trusting.pool.connectAs(trusting.url, mallory);
      const kp = await build(mallory, bob);
      expect(await client.publish(kp)).toEqual({ ok: true, message: '' });
      expect(idsOf(await inventory(trusting.url, mallory, trusting.pool.opts))).toEqual([kp.id]);
    });
  }

  it('kp-pub-mls: a bare KeyPackage (not in an MLSMessage) of the publisher is accepted', async () => {
    const owner = newKeys();
    const client = await pool.connectAs(relay.url, owner);
    expect(await client.publish(await keyPackage(owner, { mls: { wrapped: false } }))).toEqual({ ok: true, message: '' });
  });
});

describe('kp-pub-protected', () => {
  const [relay, pool] = [judgedAtOnce, judgedAtOnce.pool];
  it('kp-pub-protected: a KeyPackage with ["-"] is refused "auth-required:" unless its author is authenticated, and is not kept for later', async () => {
    const owner = newKeys();
    const kp = await keyPackage(owner, { extraTags: [[TAG.protected]] });
    const anon = await pool.connect(relay.url);
    const refused = await anon.publish(kp);
    expect(refused.ok).toBe(false);
    expect(prefixOf(refused.message)).toBe(PREFIX.authRequired);

    const other = await pool.connectAs(relay.url, newKeys());
    const alsoRefused = await other.publish(kp);
    expect(alsoRefused.ok).toBe(false);
    expect(prefixOf(alsoRefused.message)).toBe(PREFIX.authRequired);

    // Authenticating afterwards does not make the refused event stored.
    expect((await anon.auth(owner)).ok).toBe(true);
    expect(await inventory(relay.url, owner, pool.opts)).toEqual([]);

    expect((await anon.publish(kp)).ok).toBe(true);
    expect(idsOf(await inventory(relay.url, owner, pool.opts))).toEqual([kp.id]);
  });

  it('kp-pub-protected: the rule holds for other kinds: a protected kind 1 note needs its author authenticated', async () => {
    const author = newKeys();
    const note = textNote(author, 'mine only', [[TAG.protected]]);
    const anon = await pool.connect(relay.url);
    const refused = await anon.publish(note);
    expect(refused.ok).toBe(false);
    expect(prefixOf(refused.message)).toBe(PREFIX.authRequired);
    expect((await anon.req([{ ids: [note.id] }])).events).toEqual([]);
    const mine = await pool.connectAs(relay.url, author);
    expect((await mine.publish(note)).ok).toBe(true);
  });
});

describe('kp-pub-expired', () => {
  it('kp-pub-expired: a KeyPackage whose expiration is past gets OK false "invalid:" and is not stored', async () => {
    const owner = newKeys();
    const client = await pool.connect(relay.url);
    const reply = await client.publish(await keyPackage(owner, { extraTags: [[TAG.expiration, String(nowSeconds() - 10)]] }));
    expect(reply.ok).toBe(false);
    expect(prefixOf(reply.message)).toBe(PREFIX.invalid);
    expect(await inventory(relay.url, owner, pool.opts)).toEqual([]);
  });

  it('kp-pub-expired: an expired event of another kind is refused "invalid:" too; a future expiration is accepted', async () => {
    const author = newKeys();
    const client = await pool.connect(relay.url);
    const past = await client.publish(textNote(author, 'gone', [[TAG.expiration, String(nowSeconds() - 10)]]));
    expect(past.ok).toBe(false);
    expect(prefixOf(past.message)).toBe(PREFIX.invalid);
    const future = textNote(author, 'later', [[TAG.expiration, String(nowSeconds() + 3600)]]);
    expect((await client.publish(future)).ok).toBe(true);
    expect(idsOf((await client.req([{ authors: [author.pubkey] }])).events)).toEqual([future.id]);
  });
});

describe('kp-pub-no-replay', () => {
  it('kp-pub-no-replay: a consumed KeyPackage sent again gets OK false "duplicate:", from anyone', async () => {
    const owner = newKeys();
    const kps = await publishKeyPackages(relay.url, owner, 2, pool.opts);
    const requester = await pool.connectAs(relay.url, newKeys());
    const res = await requester.req([{ kinds: [KIND.keyPackage], authors: [owner.pubkey], limit: 1 }]);
    expect(idsOf(res.events)).toEqual([kps[0]!.id]);

    const anon = await pool.connect(relay.url);
    const replay = await anon.publish(kps[0]!);
    expect(replay.ok).toBe(false);
    expect(prefixOf(replay.message)).toBe(PREFIX.duplicate);
    const ownerConn = await pool.connectAs(relay.url, owner);
    const ownReplay = await ownerConn.publish(kps[0]!);
    expect(ownReplay.ok).toBe(false);
    expect(prefixOf(ownReplay.message)).toBe(PREFIX.duplicate);
    expect(idsOf(await inventory(relay.url, owner, pool.opts))).toEqual([kps[1]!.id]);
  });

  it('kp-pub-no-replay: a deleted KeyPackage sent again gets OK false "duplicate:"', async () => {
    const owner = newKeys();
    const kps = await publishKeyPackages(relay.url, owner, 2, pool.opts);
    const ownerConn = await pool.connectAs(relay.url, owner);
    expect((await ownerConn.publish(deletion(owner, [kps[0]!.id]))).ok).toBe(true);
    const replay = await ownerConn.publish(kps[0]!);
    expect(replay.ok).toBe(false);
    expect(prefixOf(replay.message)).toBe(PREFIX.duplicate);
    expect(idsOf(await inventory(relay.url, owner, pool.opts))).toEqual([kps[1]!.id]);
  });

  it("kp-pub-no-replay: someone else's kind 5, sent before the KeyPackage arrived, does not make it replayable once consumed", async () => {
    const owner = newKeys();
    const mallory = newKeys();
    const [x, y] = await keyPackages(owner, 2);
    const m = await pool.connectAs(relay.url, mallory);
    await m.publish(deletion(mallory, [x!.id]));
    const own = await pool.connectAs(relay.url, owner);
    expect((await own.publish(x!)).ok).toBe(true); // a kind 5 from someone else removes nothing (kp-del-owner)
    expect((await own.publish(y!)).ok).toBe(true);
    const requester = await pool.connectAs(relay.url, newKeys());
    expect(idsOf((await requester.req([{ kinds: [KIND.keyPackage], authors: [owner.pubkey], limit: 1 }])).events)).toEqual([x!.id]);
    const replay = await m.publish(x!);
    expect(replay.ok).toBe(false);
    expect(prefixOf(replay.message)).toBe(PREFIX.duplicate);
    expect(idsOf(await inventory(relay.url, owner, pool.opts))).toEqual([y!.id]);
  });

  it("kp-pub-no-replay: someone else's kind 5, sent before the KeyPackage arrived, does not make it replayable once the owner deletes it", async () => {
    const owner = newKeys();
    const mallory = newKeys();
    const [x, y] = await keyPackages(owner, 2);
    const m = await pool.connectAs(relay.url, mallory);
    await m.publish(deletion(mallory, [x!.id]));
    const own = await pool.connectAs(relay.url, owner);
    expect((await own.publish(x!)).ok).toBe(true);
    expect((await own.publish(y!)).ok).toBe(true);
    expect((await own.publish(deletion(owner, [x!.id]))).ok).toBe(true);
    const replay = await m.publish(x!);
    expect(replay.ok).toBe(false);
    expect(prefixOf(replay.message)).toBe(PREFIX.duplicate);
    expect(idsOf(await inventory(relay.url, owner, pool.opts))).toEqual([y!.id]);
  });

  it('kp-pub-no-replay: a still-stored KeyPackage sent again gets OK true "duplicate:" and stays once', async () => {
    const owner = newKeys();
    const kps = await publishKeyPackages(relay.url, owner, 1, pool.opts);
    const client = await pool.connect(relay.url);
    const again = await client.publish(kps[0]!);
    expect(again.ok).toBe(true);
    expect(prefixOf(again.message)).toBe(PREFIX.duplicate);
    expect(idsOf(await inventory(relay.url, owner, pool.opts))).toEqual([kps[0]!.id]);
  });
});

describe('kp-pub-no-broadcast', () => {
  it("kp-pub-no-broadcast: a new KeyPackage reaches no third party's live subscription, only the owner's own connection", async () => {
    const owner = newKeys();
    const third = await pool.connectAs(relay.url, newKeys());
    const thirdSub = await liveSub(third, { kinds: [KIND.keyPackage, 1] });
    const anon = await pool.connect(relay.url);
    const anonSub = await liveSub(anon, { kinds: [KIND.keyPackage] });
    const own = await pool.connectAs(relay.url, owner);
    const ownSub = await liveSub(own, { kinds: [KIND.keyPackage], authors: [owner.pubkey] });

    const [kp] = await publishKeyPackages(relay.url, owner, 1, pool.opts);
    // A note by the same owner shows the third party's subscription is live.
    const publisher = await pool.connect(relay.url);
    const note = textNote(owner, 'visible');
    expect((await publisher.publish(note)).ok).toBe(true);

    await third.next((m) => m[0] === 'EVENT' && m[1] === thirdSub && m[2].id === note.id, 'the note on the live subscription');
    const ownGot = await own.next((m) => m[0] === 'EVENT' && m[1] === ownSub, 'the KeyPackage on the owner\'s subscription');
    expect(ownGot[2]).toEqual(kp);

    await third.quietFor(250);
    expect(third.received.filter((m) => m[0] === 'EVENT' && m[2].kind === KIND.keyPackage)).toEqual([]);
    expect(anon.received.filter((m) => m[0] === 'EVENT' && m[1] === anonSub)).toEqual([]);
  });
});
