/** Event classification by NIP-01 kind ranges and common tag readers. */
import type { NostrEvent } from './messages.js';
import { TAG } from './profile.js';

export type Storage = 'regular' | 'replaceable' | 'ephemeral' | 'addressable';

export function storageOf(kind: number): Storage {
  if (kind === 0 || kind === 3 || (kind >= 10000 && kind < 20000)) return 'replaceable';
  if (kind >= 20000 && kind < 30000) return 'ephemeral';
  if (kind >= 30000 && kind < 40000) return 'addressable';
  return 'regular';
}

export function firstTagValue(event: Pick<NostrEvent, 'tags'>, name: string): string | undefined {
  return event.tags.find((t) => t[0] === name)?.[1];
}

/** NIP-40 expiration in unix seconds, or undefined when absent or unreadable. */
export function expirationOf(event: Pick<NostrEvent, 'tags'>): number | undefined {
  const raw = firstTagValue(event, TAG.expiration);
  if (raw === undefined || !/^\d+$/.test(raw)) return undefined;
  return Number(raw);
}

export function isExpired(event: Pick<NostrEvent, 'tags'>, nowSeconds: number): boolean {
  const exp = expirationOf(event);
  return exp !== undefined && exp <= nowSeconds;
}

/** NIP-70: a `["-"]` tag marks an event only its author may publish. */
export function isProtected(event: Pick<NostrEvent, 'tags'>): boolean {
  return event.tags.some((t) => t.length === 1 && t[0] === TAG.protected);
}

/** The `d` tag value of an addressable event ('' when absent). */
export function dTagOf(event: Pick<NostrEvent, 'tags'>): string {
  return firstTagValue(event, TAG.identifier) ?? '';
}

export const HEX64 = /^[0-9a-f]{64}$/;

/** A replaceable or addressable event's slot: `(kind, pubkey, d)`, `d` '' for replaceable kinds. */
export interface Slot {
  kind: number;
  pubkey: string;
  d: string;
}

/** The slot an event replaces within (NIP-01), or undefined for regular and ephemeral kinds. */
export function slotOf(event: Pick<NostrEvent, 'kind' | 'pubkey' | 'tags'>): Slot | undefined {
  const storage = storageOf(event.kind);
  if (storage === 'replaceable') return { kind: event.kind, pubkey: event.pubkey, d: '' };
  if (storage === 'addressable') return { kind: event.kind, pubkey: event.pubkey, d: dTagOf(event) };
  return undefined;
}

/**
 * A NIP-09 `a` tag value, `<kind>:<pubkey>:<d>`, as the slot it names; undefined
 * when it is malformed or names a kind that has no slots (regular, ephemeral).
 */
export function parseAddress(value: string): Slot | undefined {
  const [kind, pubkey, ...d] = value.split(':');
  if (kind === undefined || !/^\d+$/.test(kind) || pubkey === undefined || !HEX64.test(pubkey)) return undefined;
  const storage = storageOf(Number(kind));
  if (storage !== 'replaceable' && storage !== 'addressable') return undefined;
  return { kind: Number(kind), pubkey, d: storage === 'addressable' ? d.join(':') : '' };
}
