/**
 * The profile's rules on the shape of KeyPackage events (kind 443) and
 * KeyPackage requests (kind 447), as pure functions. Each returns the
 * sentence that explains the first broken rule, or undefined.
 */
import type { NostrEvent } from './messages.js';
import { firstTagValue, HEX64 } from './events.js';
import { BASE64_ENCODING, HEX_ENCODING, MLS_PROTOCOL_VERSION, TAG } from './profile.js';

const HEX = /^(?:[0-9a-fA-F]{2})+$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function hasAnyTag(event: NostrEvent, names: readonly string[]): boolean {
  return event.tags.some((t) => names.includes(t[0] ?? '') && typeof t[1] === 'string' && t[1] !== '');
}

/** PROFILE.md kp-pub-tags and kp-pub-content. */
export function keyPackageProblem(event: NostrEvent): string | undefined {
  return keyPackageTagProblem(event) ?? keyPackageContentProblem(event);
}

/** PROFILE.md kp-pub-tags: the version, ciphersuite and extensions tags. */
export function keyPackageTagProblem(event: NostrEvent): string | undefined {
  const version = firstTagValue(event, TAG.mlsProtocolVersion);
  if (version === undefined) return `missing ${TAG.mlsProtocolVersion} tag`;
  if (version !== MLS_PROTOCOL_VERSION) {
    return `${TAG.mlsProtocolVersion} must be "${MLS_PROTOCOL_VERSION}", got "${version}"`;
  }
  if (!hasAnyTag(event, TAG.ciphersuite)) return `missing ciphersuite tag (${TAG.ciphersuite.join(' or ')})`;
  if (!hasAnyTag(event, TAG.extensions)) return `missing extensions tag (${TAG.extensions.join(' or ')})`;
  return undefined;
}

/**
 * PROFILE.md kp-pub-content: non-empty content in the encoding the tags say:
 * base64 with `["encoding","base64"]`, hex with `["encoding","hex"]` or with no
 * encoding tag (Marmot MIP-00 reads hex either way).
 */
export function keyPackageContentProblem(event: NostrEvent): string | undefined {
  if (event.content === '') return 'content is empty; it must hold the serialized KeyPackage';
  const encoding = firstTagValue(event, TAG.encoding);
  if (encoding === BASE64_ENCODING) {
    return BASE64.test(event.content) ? undefined : 'content is not valid base64 although the encoding tag says base64';
  }
  if (encoding !== undefined && encoding !== HEX_ENCODING) {
    return `unknown encoding "${encoding}"; use "${BASE64_ENCODING}" or "${HEX_ENCODING}" (or omit the tag for hex)`;
  }
  if (!HEX.test(event.content)) return 'content is not valid hex (add ["encoding","base64"] for base64 content)';
  return undefined;
}

export interface KeyPackageRequest {
  owner: string;
  /** How many KeyPackages were asked for, defaulted to max_per_query. */
  count: number;
}

/** PROFILE.md kp-447-form: exactly one `p` naming another pubkey, optional `n` in 1..maxPerQuery. */
export function parseKeyPackageRequest(
  event: NostrEvent,
  maxPerQuery: number,
): KeyPackageRequest | { problem: string } {
  const ps = event.tags.filter((t) => t[0] === TAG.pubkey);
  if (ps.length !== 1) return { problem: `a KeyPackage request needs exactly one p tag, found ${ps.length}` };
  const owner = ps[0]?.[1] ?? '';
  if (!HEX64.test(owner)) return { problem: 'the p tag must hold a 64-character lowercase hex pubkey' };
  if (owner === event.pubkey) return { problem: 'a KeyPackage request cannot name its own signer' };
  const ns = event.tags.filter((t) => t[0] === TAG.count);
  if (ns.length > 1) return { problem: 'at most one n tag' };
  const n = ns[0]?.[1];
  if (n === undefined) return { owner, count: maxPerQuery };
  if (!/^[1-9]\d*$/.test(n) || Number(n) > maxPerQuery) {
    return { problem: `n must be a decimal integer from 1 to ${maxPerQuery}, got "${n}"` };
  }
  return { owner, count: Number(n) };
}
