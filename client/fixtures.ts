/** Signed events the suites publish: valid KeyPackages and ways to break them. */
import { randomBytes } from 'node:crypto';
import type { NostrEvent } from '../protocol/messages.js';
import { BASE64_ENCODING, KIND, MLS_PROTOCOL_VERSION, TAG } from '../protocol/profile.js';
import { sign, type Keys } from '../protocol/crypto.js';
import { nowSeconds } from './relay-client.js';

export interface KeyPackageOptions {
  createdAt?: number;
  encoding?: 'hex' | 'base64';
  /** Extra tags appended after the required ones (e.g. `["-"]`, `["expiration", ...]`). */
  extraTags?: string[][];
  /** Replaces the whole tag list, for tests that break the required tags. */
  tags?: string[][];
  content?: string;
}

/**
 * The required tags of a KeyPackage. The content is random bytes, not a real
 * MLS KeyPackage: the profile asks relays to check the encoding, not to parse MLS.
 */
export function keyPackageTags(encoding: 'hex' | 'base64' = 'hex'): string[][] {
  return [
    REQUIRED_TAGS.version,
    REQUIRED_TAGS.ciphersuite,
    REQUIRED_TAGS.extensions,
    ...(encoding === 'base64' ? [[TAG.encoding, BASE64_ENCODING]] : []),
  ];
}

/** The required KeyPackage tags one by one (NIP-EE spelling), for tests that drop or change one. */
export const REQUIRED_TAGS: Readonly<Record<'version' | 'ciphersuite' | 'extensions' | 'mlsCiphersuite' | 'mlsExtensions', string[]>> = {
  version: [TAG.mlsProtocolVersion, MLS_PROTOCOL_VERSION],
  ciphersuite: [TAG.ciphersuite[0], '0x0001'],
  extensions: [TAG.extensions[0], '0x000a', '0xf2ee'],
  /** The same two in Marmot MIP-00's spelling. */
  mlsCiphersuite: [TAG.ciphersuite[1], '0x0001'],
  mlsExtensions: [TAG.extensions[1], '0x000a', '0xf2ee'],
};

export function keyPackage(keys: Keys, opts: KeyPackageOptions = {}): NostrEvent {
  const encoding = opts.encoding ?? 'hex';
  const bytes = randomBytes(48);
  return sign(
    {
      kind: KIND.keyPackage,
      created_at: opts.createdAt ?? nowSeconds(),
      tags: opts.tags ?? [...keyPackageTags(encoding), ...(opts.extraTags ?? [])],
      content: opts.content ?? (encoding === 'base64' ? bytes.toString('base64') : bytes.toString('hex')),
    },
    keys,
  );
}

/**
 * `count` KeyPackages with distinct created_at, oldest first, ending a little
 * in the past, so the order a relay should hand them out in is the array order.
 */
export function keyPackages(keys: Keys, count: number, opts: Omit<KeyPackageOptions, 'createdAt'> = {}): NostrEvent[] {
  const newest = nowSeconds() - 5;
  return Array.from({ length: count }, (_, i) => keyPackage(keys, { ...opts, createdAt: newest - (count - 1 - i) }));
}

/** The order the profile hands KeyPackages out in (kp-handout-order). */
export function oldestFirst(a: NostrEvent, b: NostrEvent): number {
  return a.created_at - b.created_at || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

export function textNote(keys: Keys, content = 'hello', tags: string[][] = [], createdAt = nowSeconds()): NostrEvent {
  return sign({ kind: 1, created_at: createdAt, tags, content }, keys);
}

export function deletion(keys: Keys, ids: string[], kind: number = KIND.keyPackage): NostrEvent {
  return sign(
    { kind: KIND.deletion, created_at: nowSeconds(), tags: [...ids.map((id) => [TAG.event, id]), ['k', String(kind)]], content: '' },
    keys,
  );
}
