/**
 * What a KeyPackage event's content holds, read with ts-mls (RFC 9420): the
 * checks of PROFILE.md kp-pub-mls (a relay MAY refuse what fails them) and of
 * kp-handout-intact (the suites verify what a relay hands out).
 *
 * Not imported by the k6 bundles: they carry KeyPackages made in Node.
 */
import { ciphersuites, decodeMlsMessage, getCiphersuiteFromName, getCiphersuiteImpl, type CiphersuiteImpl, type CiphersuiteName, type KeyPackage } from 'ts-mls';
import { decodeKeyPackage, makeKeyPackageRef, verifyKeyPackage } from 'ts-mls/keyPackage.js';
import { verifyLeafNodeSignatureKeyPackage } from 'ts-mls/leafNode.js';
import { firstTagValue } from './events.js';
import type { NostrEvent } from './messages.js';
import { BASE64_ENCODING, HEX_ENCODING, TAG } from './profile.js';

/** A ciphersuite's id as the tags spell it: `0x` and four lowercase hex digits. */
export function ciphersuiteTag(name: CiphersuiteName): string {
  return `0x${ciphersuites[name].toString(16).padStart(4, '0')}`;
}

const impls = new Map<CiphersuiteName, Promise<CiphersuiteImpl | undefined>>();

/**
 * The implementation of a ciphersuite, made once per process. Undefined when
 * this installation cannot verify it (suites whose optional crypto packages
 * ts-mls did not find).
 */
export function ciphersuiteImpl(name: CiphersuiteName): Promise<CiphersuiteImpl | undefined> {
  let impl = impls.get(name);
  if (impl === undefined) {
    impl = getCiphersuiteImpl(getCiphersuiteFromName(name)).catch(() => undefined);
    impls.set(name, impl);
  }
  return impl;
}

/** The content's bytes as its encoding tag says (hex when there is none), or undefined. */
export function keyPackageBytes(event: NostrEvent): Uint8Array | undefined {
  const encoding = firstTagValue(event, TAG.encoding);
  if (encoding === BASE64_ENCODING) {
    const bytes = Buffer.from(event.content, 'base64');
    return bytes.toString('base64') === event.content ? bytes : undefined;
  }
  if (encoding !== undefined && encoding !== HEX_ENCODING) return undefined;
  return /^(?:[0-9a-fA-F]{2})+$/.test(event.content) ? Buffer.from(event.content, 'hex') : undefined;
}

export type DecodedKeyPackage = { keyPackage: KeyPackage; wrapped: boolean } | { problem: string };

/** An MLSMessage carrying a KeyPackage, or a bare KeyPackage, that fills `bytes` exactly. */
export function decodeKeyPackageBytes(bytes: Uint8Array): DecodedKeyPackage {
  try {
    const message = decodeMlsMessage(bytes, 0);
    if (message !== undefined && message[1] === bytes.length) {
      if (message[0].wireformat !== 'mls_key_package') {
        return { problem: `content is an MLS ${message[0].wireformat} message, not a KeyPackage` };
      }
      return { keyPackage: message[0].keyPackage, wrapped: true };
    }
  } catch {
    // Not an MLSMessage: try a bare KeyPackage below.
  }
  try {
    const bare = decodeKeyPackage(bytes, 0);
    if (bare !== undefined && bare[1] === bytes.length) return { keyPackage: bare[0], wrapped: false };
  } catch {
    // Falls through to the refusal.
  }
  return { problem: `content (${bytes.length} bytes) is not a serialized MLS KeyPackage, bare or in an MLSMessage` };
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

/**
 * PROFILE.md kp-pub-mls: why the content is not a usable KeyPackage for this
 * event (not MLS, someone else's credential, a ciphersuite the tag does not
 * name, a signature that does not verify), or undefined.
 * Suites this installation cannot verify are judged on everything but signatures.
 */
export async function keyPackageMlsProblem(event: NostrEvent): Promise<string | undefined> {
  const bytes = keyPackageBytes(event);
  if (bytes === undefined) return 'content is not in the encoding its tags name';
  const decoded = decodeKeyPackageBytes(bytes);
  if ('problem' in decoded) return decoded.problem;
  const kp = decoded.keyPackage;
  const { credential } = kp.leafNode;
  if (credential.credentialType !== 'basic') return `the credential is ${credential.credentialType}; MIP-00 needs a basic credential`;
  const pubkey = Buffer.from(event.pubkey, 'hex');
  if (!sameBytes(credential.identity, pubkey)) {
    return Buffer.from(credential.identity).toString('utf8') === event.pubkey
      ? "the credential identity is the pubkey's 64 hex characters; it must be its 32 raw bytes"
      : "the credential identity is not the event's pubkey";
  }
  const tagged = event.tags.find((t) => (TAG.ciphersuite as readonly string[]).includes(t[0] ?? ''))?.[1];
  const actual = ciphersuiteTag(kp.cipherSuite);
  if (tagged === undefined || !/^0x[0-9a-fA-F]{1,4}$/.test(tagged) || Number.parseInt(tagged.slice(2), 16) !== ciphersuites[kp.cipherSuite]) {
    return `the ciphersuite tag says ${tagged ?? '(none)'} but the KeyPackage is ${actual}`;
  }
  const impl = await ciphersuiteImpl(kp.cipherSuite);
  if (impl === undefined) return undefined;
  if (!(await verifyKeyPackage(kp, impl.signature))) return "the KeyPackage's signature does not verify";
  if (!(await verifyLeafNodeSignatureKeyPackage(kp.leafNode, impl.signature))) return "the KeyPackage's leaf node signature does not verify";
  return undefined;
}

/** MIP-00's `i` tag value: the KeyPackageRef in lowercase hex. */
export async function keyPackageRef(kp: KeyPackage): Promise<string> {
  const impl = await ciphersuiteImpl(kp.cipherSuite);
  if (impl === undefined) throw new Error(`ciphersuite ${kp.cipherSuite} is not available in this installation`);
  return Buffer.from(await makeKeyPackageRef(kp, impl.hash)).toString('hex');
}
