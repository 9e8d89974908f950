/** NIP-01 filter validation (what a relay refuses with CLOSED "invalid: ...") and matching. */
import { matchFilter } from 'nostr-tools/filter';
import type { Filter, NostrEvent } from './messages.js';
import { HEX64 } from './events.js';
import { KIND } from './profile.js';

const isInt = (x: unknown): x is number => typeof x === 'number' && Number.isInteger(x) && x >= 0;

/** The filter, or the sentence that says what is wrong with it. */
export function parseFilter(raw: unknown): Filter | { problem: string } {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { problem: 'a filter must be a JSON object' };
  const out: Filter = {};
  for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
    switch (key) {
      case 'ids':
      case 'authors':
        if (!Array.isArray(value) || !value.every((v) => typeof v === 'string' && HEX64.test(v))) {
          return { problem: `${key} must be an array of 64-character lowercase hex strings` };
        }
        out[key] = value as string[];
        break;
      case 'kinds':
        if (!Array.isArray(value) || !value.every((v) => isInt(v) && v <= 65535)) {
          return { problem: 'kinds must be an array of integers from 0 to 65535' };
        }
        out.kinds = value as number[];
        break;
      case 'since':
      case 'until':
      case 'limit':
        if (!isInt(value)) return { problem: `${key} must be a non-negative integer` };
        out[key] = value;
        break;
      default:
        if (/^#[a-zA-Z]$/.test(key)) {
          if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
            return { problem: `${key} must be an array of strings` };
          }
          out[key as `#${string}`] = value as string[];
        } else {
          return { problem: `unsupported filter field "${key}"` };
        }
    }
  }
  return out;
}

/**
 * Whether `event` matches `filter` as NIP-01 says. nostr-tools' matchFilter, except for one case it
 * gets wrong: it reads a `since` or `until` of 0 as absent, so `until: 0` would match every event
 * (a `since` of 0 excludes nothing anyway).
 */
export function matchesFilter(filter: Filter, event: NostrEvent): boolean {
  return matchFilter(filter, event) && (filter.until !== 0 || event.created_at <= 0);
}

/** Whether `event` matches any of `filters` (NIP-01: the filters of one REQ are ORed). */
export function matchesAnyFilter(filters: readonly Filter[], event: NostrEvent): boolean {
  return filters.some((filter) => matchesFilter(filter, event));
}

/**
 * PROFILE.md kp-req-scope: whether a filter's kinds and limit ask for
 * KeyPackages at all: `kinds` exactly `[443]` (repeats aside) and a `limit` other than 0.
 * Whose KeyPackages it asks for comes from its `authors` or `ids`. A filter
 * that mixes 443 with other kinds (as client libraries merge them) does not ask.
 */
export function kindsAskForKeyPackages(filter: Filter): boolean {
  const kinds = filter.kinds ?? [];
  return filter.limit !== 0 && kinds.length > 0 && kinds.every((k) => k === KIND.keyPackage);
}
