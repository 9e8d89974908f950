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
  return firstTagValue(event, 'd') ?? '';
}

export const HEX64 = /^[0-9a-f]{64}$/;
