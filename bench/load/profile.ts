/**
 * Where a relay's CPU time went during one timed phase, from a V8
 * .cpuprofile: self time by category (signature checks, MLS checks, SQLite,
 * socket and JSON, the relay's own logic, GC) and the hottest functions.
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export type Category = 'signature checks' | 'MLS checks' | 'SQLite' | 'socket & JSON' | 'relay logic' | 'GC & runtime' | 'idle';

/** SQLite's native methods (better-sqlite3) show up by name, without a URL. */
const SQLITE_NATIVE = new Set(['run', 'get', 'all', 'iterate', 'prepare', 'exec', 'pragma', 'transaction', 'step', 'raw', 'pluck', 'Statement', 'Database']);
const JSON_NATIVE = new Set(['parse', 'stringify']);

export function categorize(fn: string, url: string): Category {
  if (fn === '(idle)') return 'idle';
  if (fn === '(garbage collector)' || fn === '(program)' || fn === '(root)') return 'GC & runtime';
  // kp-pub-mls: ts-mls decoding and its Ed25519 checks (Node's WebCrypto underneath).
  if (/ts-mls|protocol[\\/]mls\.js/.test(url) || /^(eddsaSignVerify|signVerify|cfrgImportKey)$/.test(fn)) return 'MLS checks';
  if (url.startsWith('wasm') || /nostr-wasm|@noble|nostr-tools|crypto\.js/.test(url) || /schnorr|verify|sha256/i.test(fn)) return 'signature checks';
  if (/better-sqlite3|sqlite-store|kysely|event-repository-sqlite/.test(url) || (url === '' && SQLITE_NATIVE.has(fn))) return 'SQLite';
  if (/[\\/]ws[\\/]lib[\\/]|^node:(net|stream|internal\/stream|internal\/net|_stream|buffer|internal\/buffer)/.test(url) || (url === '' && (JSON_NATIVE.has(fn) || fn.startsWith('write')))) return 'socket & JSON';
  return 'relay logic';
}

export interface Breakdown {
  /** Share of busy (non-idle) time per category, in percent. */
  shares: Record<Category, number>;
  busyMs: number;
  /** Share of the phase the relay's thread had nothing to do: high means it was not the bottleneck. */
  idlePercent: number;
  top: { fn: string; where: string; category: Category; percent: number }[];
}

export function summarizeProfile(file: string, topN = 10): Breakdown {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const shares: Record<Category, number> = { 'signature checks': 0, 'MLS checks': 0, SQLite: 0, 'socket & JSON': 0, 'relay logic': 0, 'GC & runtime': 0, idle: 0 };
  const perFunction = new Map<string, { fn: string; where: string; category: Category; us: number }>();
  for (const [id, us] of self) {
    const frame = byId.get(id)?.callFrame ?? { functionName: '?', url: '' };
    const category = categorize(frame.functionName, frame.url);
    shares[category] += us;
    const where = frame.url.replace(/^.*\/(node_modules\/|dist\/)/, '$1');
    const key = `${frame.functionName}@${where}`;
    const entry = perFunction.get(key) ?? { fn: frame.functionName || '(anonymous)', where, category, us: 0 };
    entry.us += us;
    perFunction.set(key, entry);
  }
  const busy = Object.entries(shares).reduce((sum, [k, v]) => (k === 'idle' ? sum : sum + v), 0);
  const pct = (us: number): number => Math.round((1000 * us) / Math.max(1, busy)) / 10;
  const out = Object.fromEntries(Object.entries(shares).map(([k, v]) => [k, k === 'idle' ? 0 : pct(v)])) as Record<Category, number>;
  const top = [...perFunction.values()]
    .filter((f) => f.category !== 'idle')
    .sort((a, b) => b.us - a.us)
    .slice(0, topN)
    .map((f) => ({ fn: f.fn, where: f.where, category: f.category, percent: pct(f.us) }));
  const idlePercent = Math.round((1000 * shares.idle) / Math.max(1, busy + shares.idle)) / 10;
  return { shares: out, busyMs: Math.round(busy / 1000), idlePercent, top };
}
