/**
 * A Nostr event signer small enough for k6: BIP-340 Schnorr from
 * @noble/curves and SHA-256 from @noble/hashes, with its own UTF-8 encoder
 * because k6 has no TextEncoder before 2.2. The same code runs in Node (the
 * tests check its events with nostr-tools). About 40 signatures per second
 * per core inside k6, so scenarios sign only what must be fresh at run time.
 */
import './polyfill.js';
import { schnorr } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import type { EventTemplate, NostrEvent, Signer } from './runtime.js';

/** UTF-8 bytes of a JS string (lone surrogates become U+FFFD, as TextEncoder does). */
export function utf8(text: string): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < text.length; i++) {
    let c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const low = text.charCodeAt(i + 1);
      if (low >= 0xdc00 && low <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (low - 0xdc00);
        i++;
      } else c = 0xfffd;
    } else if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd;
    if (c < 0x80) out.push(c);
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
  }
  return new Uint8Array(out);
}

/** NIP-01 event id: sha256 of [0, pubkey, created_at, kind, tags, content]. */
export function eventId(pubkey: string, t: EventTemplate): string {
  return bytesToHex(sha256(utf8(JSON.stringify([0, pubkey, t.created_at, t.kind, t.tags, t.content]))));
}

export function publicKeyOf(secretKeyHex: string): string {
  return bytesToHex(schnorr.getPublicKey(hexToBytes(secretKeyHex)));
}

export function newSecretKey(): string {
  return bytesToHex(schnorr.utils.randomSecretKey());
}

// The public key costs a scalar multiplication: remember the few keys a VU signs with.
const pubkeys = new Map<string, string>();

export function signEvent(template: EventTemplate, secretKeyHex: string): NostrEvent {
  let pubkey = pubkeys.get(secretKeyHex);
  if (pubkey === undefined) {
    pubkey = publicKeyOf(secretKeyHex);
    if (pubkeys.size > 1000) pubkeys.clear();
    pubkeys.set(secretKeyHex, pubkey);
  }
  const id = eventId(pubkey, template);
  const sig = bytesToHex(schnorr.sign(hexToBytes(id), hexToBytes(secretKeyHex)));
  return { id, pubkey, created_at: template.created_at, kind: template.kind, tags: template.tags, content: template.content, sig };
}

export const nobleSigner: Signer = {
  newSecretKey,
  publicKey: publicKeyOf,
  sign: signEvent,
};
