/**
 * The KeyPackage relay profile's constants: kinds, tag names, limits and the
 * machine-readable prefixes. The relay, the suites and the load scripts all
 * import these, so a later profile (Marmot's kind 30443) changes one file.
 */

export const PROFILE_VERSION = 'kp-relay/0.2';
/** The Marmot relay profile (PROFILE-MARMOT.md). */
export const MARMOT_PROFILE_VERSION = 'marmot-relay/1';

/** The profiles the suites check, by the name `kpsuite check --profile` takes; NIP tests belong to none. */
export const PROFILES = {
  'kp-relay': { version: PROFILE_VERSION, file: 'PROFILE.md', anchorPrefix: 'kp-', nip11Key: 'keypackages' },
  'marmot-relay': { version: MARMOT_PROFILE_VERSION, file: 'PROFILE-MARMOT.md', anchorPrefix: 'mr-', nip11Key: 'marmot' },
} as const;

export type ProfileName = keyof typeof PROFILES;
export const PROFILE_NAMES = Object.keys(PROFILES) as ProfileName[];

/** The profile an anchor belongs to (`kp-…`, `mr-…`), or undefined for a NIP anchor. */
export function profileOfAnchor(anchor: string): ProfileName | undefined {
  return PROFILE_NAMES.find((name) => anchor.startsWith(PROFILES[name].anchorPrefix));
}

/** NIP-11 `software` of the reference relay, so the suites can tell it from other relays. */
export const REFERENCE_RELAY_SOFTWARE = 'https://github.com/kp-relay-suite/kp-relay-suite';

export const KIND = {
  deletion: 5,
  keyPackage: 443,
  keyPackageRequest: 447,
  giftWrap: 1059,
  keyPackageRelays: 10051,
  auth: 22242,
  // Marmot (PROFILE-MARMOT.md)
  groupMessage: 445,
  welcomeRumor: 444,
  seal: 13,
  inboxRelays: 10050,
  relayList: 10002,
  marmotKeyPackage: 30443,
} as const;

export const TAG = {
  mlsProtocolVersion: 'mls_protocol_version',
  /** NIP-EE spells it `ciphersuite`; Marmot MIP-00 `mls_ciphersuite`. Either is accepted. */
  ciphersuite: ['ciphersuite', 'mls_ciphersuite'],
  extensions: ['extensions', 'mls_extensions'],
  encoding: 'encoding',
  protected: '-',
  expiration: 'expiration',
  pubkey: 'p',
  count: 'n',
  event: 'e',
  address: 'a',
  relay: 'relay',
  challenge: 'challenge',
  /** The relays a KeyPackage is published to (NIP-EE, MIP-00); MDK refuses a KeyPackage without it. */
  relays: 'relays',
  /** MIP-00: the KeyPackageRef, lowercase hex. */
  keyPackageRef: 'i',
  client: 'client',
  /** Marmot: the addressable slot of a kind 30443 KeyPackage, and a kind 445's group routing id. */
  identifier: 'd',
  group: 'h',
  mlsProposals: 'mls_proposals',
  appComponents: 'app_components',
} as const;

export const MLS_PROTOCOL_VERSION = '1.0';
export const BASE64_ENCODING = 'base64';
/** Marmot MIP-00 lists hex as valid with this tag or with none (kp-pub-content). */
export const HEX_ENCODING = 'hex';

/** MLS ids the fixtures advertise (RFC 9420 §17, Marmot MIP-00), as the tags spell them. */
export const MLS = {
  /** MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519, the default ciphersuite of NIP-EE and Marmot. */
  defaultCiphersuite: '0x0001',
  /** RFC 9420 last_resort KeyPackage extension. */
  lastResortExtension: '0x000a',
  /** Marmot's group data extension (MIP-01). */
  marmotGroupDataExtension: '0xf2ee',
} as const;

/** kp-auth-grace: how long a request sent before the AUTH is held, unless NIP-11 `keypackages.auth_grace_ms` says otherwise. */
export const DEFAULT_AUTH_GRACE_MS = 2000;

/** NIP-42: an AUTH event's created_at may be at most this far from the relay's clock. */
export const AUTH_MAX_SKEW_SECONDS = 600;

/** The profile's rate limits, as advertised under NIP-11 `keypackages`. */
export interface KeyPackageLimits {
  max_per_query: number;
  queries_per_window: number;
  served_per_window: number;
  window_seconds: number;
}

export const DEFAULT_KEYPACKAGE_LIMITS: Readonly<KeyPackageLimits> = Object.freeze({
  max_per_query: 2,
  queries_per_window: 10,
  served_per_window: 50,
  window_seconds: 3600,
});

/** NIP-01 / NIP-42 machine-readable prefixes of OK and CLOSED messages. */
export const PREFIX = {
  duplicate: 'duplicate',
  pow: 'pow',
  blocked: 'blocked',
  rateLimited: 'rate-limited',
  invalid: 'invalid',
  restricted: 'restricted',
  mute: 'mute',
  error: 'error',
  authRequired: 'auth-required',
} as const;

export type Prefix = (typeof PREFIX)[keyof typeof PREFIX];

/** Formats `prefix: message`, the shape every refusal on the wire has. */
export function reason(prefix: Prefix, message: string): string {
  return `${prefix}: ${message}`;
}

/** The prefix of a relay's refusal message, or undefined when it has none. */
export function prefixOf(message: string): string | undefined {
  const m = /^([a-z-]+):/.exec(message);
  return m?.[1];
}
