import { parseFilter } from '../../protocol/filter.js';
import type { Filter } from '../../protocol/messages.js';
import { KIND, TAG } from '../../protocol/profile.js';

/**
 * kp-auth-grace: whether a message that arrives while the connection's
 * challenge is unanswered waits for the AUTH: a REQ with a filter that needs
 * one (`needsAuth`: it asks for an owner's KeyPackages, kp-req-scope, or for
 * gift wraps only their recipient may read, mr-1059-serve), a kind 447, or a
 * protected (NIP-70) event. Everything else is judged at once.
 */
export function waitsForAuth(message: readonly unknown[], needsAuth: (filter: Filter) => boolean): boolean {
  const [type, ...rest] = message;
  if (type === 'REQ') {
    return rest.slice(1).some((raw) => {
      const filter = parseFilter(raw);
      return !('problem' in filter) && needsAuth(filter);
    });
  }
  if (type !== 'EVENT' || typeof rest[0] !== 'object' || rest[0] === null) return false;
  const event = rest[0] as { kind?: unknown; tags?: unknown };
  // The event is not verified yet: read its tags without trusting their shape.
  const isProtected = Array.isArray(event.tags) && event.tags.some((t) => Array.isArray(t) && t.length === 1 && t[0] === TAG.protected);
  return event.kind === KIND.keyPackageRequest || isProtected;
}
