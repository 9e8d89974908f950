/**
 * Scenario knobs. Under k6 they come from `-e NAME=value` (__ENV); under
 * `kpsuite load` from flags mapped to the same names, so one set of
 * defaults serves both drivers.
 */
export type Env = Readonly<Record<string, string | undefined>>;

export interface Settings {
  /** ws:// or wss:// URL of the relay under test. */
  url: string;
  env: Env;
}

/** A value the user gave cannot be used: k6 stops in init, the CLI exits 2. */
export class SettingsError extends Error {}

export const DEFAULT_RELAY_URL = 'ws://127.0.0.1:7777';

export function settingsFrom(env: Env): Settings {
  const url = env.RELAY_URL ?? DEFAULT_RELAY_URL;
  if (!/^wss?:\/\/[^\s/]+/.test(url)) throw new SettingsError(`RELAY_URL must be a ws:// or wss:// URL, got "${url}"`);
  return { url, env };
}

export function num(s: Settings, name: string, fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const raw = s.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min || value > max) {
    throw new SettingsError(`${name} must be a number from ${min} to ${max}, got "${raw}"`);
  }
  return value;
}

export function int(s: Settings, name: string, fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const value = num(s, name, fallback, min, max);
  if (!Number.isInteger(value)) throw new SettingsError(`${name} must be a whole number, got "${s.env[name] ?? ''}"`);
  return value;
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** k6 durations: `500ms`, `30s`, `5m`, `1h`, `1m30s`. Throws SettingsError otherwise. */
export function parseDuration(text: string): number {
  const parts = /^(?:(\d+(?:\.\d+)?)(ms|s|m|h))+$/.test(text) ? text.match(/\d+(?:\.\d+)?(?:ms|s|m|h)/g) : null;
  if (parts === null || text === '') throw new SettingsError(`a duration looks like 30s, 5m, 1h or 1m30s, got "${text}"`);
  let ms = 0;
  for (const part of parts) {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(part);
    if (m) ms += Number(m[1]) * (UNIT_MS[m[2] ?? 's'] ?? 1000);
  }
  if (ms <= 0) throw new SettingsError(`a duration must be longer than zero, got "${text}"`);
  return ms;
}

/** A duration knob: returned as k6 writes it (for options) and in ms (for deadlines). */
export function duration(s: Settings, name: string, fallback: string): { text: string; ms: number } {
  const text = s.env[name] || fallback;
  const ms = parseDuration(text);
  // k6 refuses executor durations under a second; so does the Node driver, to stay interchangeable.
  if (ms < 1000) throw new SettingsError(`${name} must be at least 1s, got "${text}"`);
  return { text, ms };
}

/**
 * The time cap of a round-based scenario (contend, rate), which ends when its
 * rounds are done: MAX_DURATION. DURATION is refused rather than silently
 * taken as a cap nobody asked for.
 */
export function maxDuration(s: Settings, scenario: string, fallback: string, work: string): { text: string; ms: number } {
  if (s.env.DURATION) throw new SettingsError(`DURATION does not apply to ${scenario}: it runs ${work} and ends when they are done; MAX_DURATION (default ${fallback}) only caps it`);
  return duration(s, 'MAX_DURATION', fallback);
}

/** The http(s) URL of a relay's ws(s) URL: where NIP-11 and /metrics are served. */
export function httpUrlOf(wsUrl: string): string {
  return wsUrl.replace(/^ws(s?):\/\//, 'http$1://');
}
