/**
 * Pre-signed pools, signed in Node with nostr-wasm: into the k6 bundles at
 * build time, fresh per run for `kpsuite load` (either driver).
 */
import { randomBytes } from 'node:crypto';
import { newKeys, sign, type Keys } from '../../protocol/crypto.js';
import { KIND, MLS_PROTOCOL_VERSION, TAG } from '../../protocol/profile.js';
import type { Fixture, FixtureNeeds } from '../core/fixture.js';
import type { NostrEvent } from '../core/runtime.js';
import { TEXT_NOTE_KIND } from '../core/nostr.js';

/** KeyPackages per owner in the publish pool: one publishing connection's batch. */
export const PER_OWNER = 5;

function keyPackage(keys: Keys, createdAt: number): NostrEvent {
  return sign(
    {
      kind: KIND.keyPackage,
      created_at: createdAt,
      tags: [
        [TAG.mlsProtocolVersion, MLS_PROTOCOL_VERSION],
        [TAG.ciphersuite[0], '0x0001'],
        [TAG.extensions[0], '0x000a', '0xf2ee'],
        ['client', 'kpsuite-load'],
      ],
      content: randomBytes(48).toString('hex'),
    },
    keys,
  );
}

export function makeFixture(needs: FixtureNeeds, now = Date.now()): Fixture {
  const seconds = Math.floor(now / 1000) - 60;
  const keyPackages: NostrEvent[] = [];
  let owner = newKeys();
  for (let i = 0; i < needs.keyPackages; i++) {
    if (i % PER_OWNER === 0) owner = newKeys();
    keyPackages.push(keyPackage(owner, seconds - (PER_OWNER - (i % PER_OWNER))));
  }
  // A few dozen authors, as a busy feed has.
  const authors = Array.from({ length: Math.min(50, Math.max(1, needs.notes)) }, () => newKeys());
  const notes = Array.from({ length: needs.notes }, (_, i) =>
    sign({ kind: TEXT_NOTE_KIND, created_at: seconds - (i % 600), tags: [], content: `kpsuite load note ${i} ${randomBytes(8).toString('hex')}` }, authors[i % authors.length] as Keys),
  );
  return { createdAt: now, keyPackages, notes };
}
