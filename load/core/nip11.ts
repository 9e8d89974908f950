/**
 * The relay's NIP-11 document, read through the runtime (k6/http under k6,
 * fetch under Node), and the KeyPackage limits it advertises (kp-rate-advertise),
 * overridable with MAX_PER_QUERY, QUERIES_PER_WINDOW, SERVED_PER_WINDOW, WINDOW_SECONDS.
 */
import type { RelayInformation } from '../../protocol/messages.js';
import type { KeyPackageLimits } from '../../protocol/profile.js';
import { REFERENCE_RELAY_SOFTWARE } from '../../protocol/profile.js';
import type { LoadRuntime } from './runtime.js';
import { httpUrlOf, int, type Settings } from './settings.js';

export async function fetchNip11(rt: LoadRuntime, wsUrl: string, timeoutMs: number): Promise<RelayInformation | undefined> {
  const reply = await rt.httpGet(httpUrlOf(wsUrl), { Accept: 'application/nostr+json' }, timeoutMs);
  if (reply === undefined || reply.status !== 200) return undefined;
  try {
    const doc: unknown = JSON.parse(reply.body);
    return typeof doc === 'object' && doc !== null && !Array.isArray(doc) ? (doc as RelayInformation) : undefined;
  } catch {
    return undefined;
  }
}

const KEYS: readonly (keyof KeyPackageLimits)[] = ['max_per_query', 'queries_per_window', 'served_per_window', 'window_seconds'];
const ENV_NAME: Record<keyof KeyPackageLimits, string> = {
  max_per_query: 'MAX_PER_QUERY',
  queries_per_window: 'QUERIES_PER_WINDOW',
  served_per_window: 'SERVED_PER_WINDOW',
  window_seconds: 'WINDOW_SECONDS',
};

/** Advertised limits, field by field overridden by settings; undefined unless all four are known. */
export function settleLimits(nip11: RelayInformation | undefined, s: Settings): KeyPackageLimits | undefined {
  const out: Partial<KeyPackageLimits> = {};
  for (const key of KEYS) {
    const flag = int(s, ENV_NAME[key], 0, 0);
    const advertised = nip11?.keypackages?.[key];
    const value = flag > 0 ? flag : advertised;
    if (typeof value === 'number' && Number.isInteger(value) && value > 0) out[key] = value;
  }
  return KEYS.every((k) => out[k] !== undefined) ? (out as KeyPackageLimits) : undefined;
}

/** True when the target is the reference relay, whose /metrics this suite knows. */
export function isReferenceRelay(nip11: RelayInformation | undefined): boolean {
  return nip11?.software === REFERENCE_RELAY_SOFTWARE;
}

/** `process_resident_memory_bytes` from a Prometheus text page, in MiB. */
export function residentMiB(metricsText: string): number | undefined {
  const m = /^process_resident_memory_bytes\s+([0-9.eE+-]+)\s*$/m.exec(metricsText);
  return m ? Number(m[1]) / 2 ** 20 : undefined;
}
