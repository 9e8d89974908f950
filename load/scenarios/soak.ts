/**
 * soak: the groups mix at a steady rate for a long time, plus one watcher
 * that probes latency every few seconds and, when the target is the
 * reference relay, reads its resident memory from GET /metrics.
 *
 * Drift is each probe's REQ→EOSE time divided by the median of the first
 * probes; memory growth is resident MiB now minus after the first probes.
 * Both are measured by one observer, so they compare like with like.
 */
import type { Fixture } from '../core/fixture.js';
import { fetchNip11, isReferenceRelay, residentMiB, settleLimits } from '../core/nip11.js';
import { query, subId, TEXT_NOTE_KIND } from '../core/nostr.js';
import type { LoadRuntime } from '../core/runtime.js';
import { workThresholds, type Plan, type Scenario } from '../core/scenario.js';
import { duration, httpUrlOf, int, num, type Settings } from '../core/settings.js';
import { answered, guarded, replyTimeout, withSocket } from './common.js';
import { GROUP_METRICS, GROUP_METRIC_LIST, groupNotes, groupRoles, groupThresholds, groupsFacts, groupsKnobs, setupGroups, type GroupsData } from './groups.js';

const M = {
  checked: { name: 'soak_checked', kind: 'counter', help: 'watcher probes answered (the work done, with groups_checked)' },
  probe: { name: 'soak_probe_ms', kind: 'trend', time: true, help: 'the watcher’s REQ→EOSE probe (kind 1, limit 20)' },
  drift: { name: 'soak_latency_drift', kind: 'trend', help: 'probe time ÷ median of the first probes (1 = no drift)' },
  rss: { name: 'soak_relay_rss_mib', kind: 'gauge', help: 'reference relay resident memory (GET /metrics), MiB' },
  growth: { name: 'soak_rss_growth_mib', kind: 'gauge', help: 'resident memory now minus after the baseline probes, MiB' },
} as const;

export interface SoakData extends GroupsData {
  /** GET /metrics of the reference relay; null for other relays (k6 turns an undefined property into null). */
  metricsUrl: string | null;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

async function readRss(rt: LoadRuntime, url: string | null | undefined, timeoutMs: number): Promise<number | undefined> {
  if (url == null) return undefined;
  const reply = await rt.httpGet(url, {}, timeoutMs);
  return reply?.status === 200 ? residentMiB(reply.body) : undefined;
}

export function soakPlan(s: Settings, fixture: Fixture): Plan<SoakData> {
  const k = groupsKnobs(s, { rate: 1 });
  const d = duration(s, 'DURATION', '30m');
  const every = num(s, 'PROBE_EVERY_MS', 5000, 100, 600_000);
  const baselineProbes = int(s, 'BASELINE_PROBES', 5, 1, 1000);
  const maxDrift = num(s, 'MAX_DRIFT', 3, 1);
  const maxGrowth = num(s, 'MAX_RSS_GROWTH_MIB', 256, 1);
  const timeoutMs = replyTimeout(s);

  const watch = guarded<SoakData>(async (rt, data, it) => {
    const baseline: number[] = [];
    let rssBaseline: number | undefined;
    await withSocket(rt, data.url, timeoutMs, async (sock) => {
      while (Date.now() < it.deadline) {
        const started = Date.now();
        const res = answered(rt, await query(rt, sock, subId('probe'), [{ kinds: [TEXT_NOTE_KIND], limit: 20 }], timeoutMs));
        if (res !== undefined) {
          rt.add(M.checked.name, 1);
          rt.add(M.probe.name, res.ms);
          if (baseline.length < baselineProbes) baseline.push(res.ms);
          // At least 1 ms: k6 times in whole milliseconds, and a 0 ms baseline would make every ratio infinite.
          else rt.add(M.drift.name, res.ms / Math.max(1, median(baseline)));
        }
        const rss = await readRss(rt, data.metricsUrl, timeoutMs);
        if (rss !== undefined) {
          rt.add(M.rss.name, rss);
          if (baseline.length < baselineProbes || rssBaseline === undefined) rssBaseline = rss;
          else rt.add(M.growth.name, rss - rssBaseline);
        }
        const wait = Math.min(every - (Date.now() - started), it.deadline - Date.now());
        if (wait > 0) await rt.sleep(wait);
      }
    });
  });

  const roles = [
    ...groupRoles(s, fixture, k, d),
    { name: 'watcher', executor: { executor: 'constant-vus' as const, vus: 1, duration: d.text }, durationMs: d.ms, run: watch },
  ];
  return {
    roles,
    metrics: [...GROUP_METRIC_LIST, M.checked, M.probe, M.drift, M.rss, M.growth],
    work: [GROUP_METRICS.checked.name, M.checked.name],
    thresholds: {
      ...groupThresholds(s),
      ...workThresholds([M.checked.name]),
      [M.drift.name]: [`med<${maxDrift}`],
      // A Gauge keeps its last value: the growth at the end of the run.
      [M.growth.name]: [`value<${maxGrowth}`],
    },
    settings: { RATE: k.invitesPerSecond, NOTE_RATE: k.notesPerSecond, MEMBERS: k.members, DURATION: d.text, PROBE_EVERY_MS: every, MAX_DRIFT: maxDrift, MAX_RSS_GROWTH_MIB: maxGrowth },
    setupTimeout: '300s',
    async setup(rt, instance) {
      const nip11 = await fetchNip11(rt, s.url, timeoutMs);
      const groups = await setupGroups(rt, s, k, fixture, settleLimits(nip11, s), instance);
      return { ...groups, metricsUrl: isReferenceRelay(nip11) ? `${httpUrlOf(s.url).replace(/\/+$/, '')}/metrics` : null };
    },
    facts: groupsFacts,
    notes(values) {
      const notes = groupNotes(values, k);
      const rss = values[M.rss.name];
      notes.push(
        rss !== undefined && (rss.max ?? 0) > 0
          ? `relay resident memory ${rss.min?.toFixed(0)}–${rss.max?.toFixed(0)} MiB, growth at the end ${(values[M.growth.name]?.value ?? 0).toFixed(1)} MiB (limit ${maxGrowth})`
          : 'relay memory not watched: the target is not the reference relay (no known /metrics)',
      );
      const drift = values[M.drift.name];
      if (drift !== undefined && (drift.count ?? 0) > 0) notes.push(`probe latency drift: median ×${(drift.med ?? 0).toFixed(2)}, p95 ×${(drift['p(95)'] ?? 0).toFixed(2)} of the first ${baselineProbes} probes`);
      else notes.push(`too short for drift: fewer than ${baselineProbes + 1} probes at one per ${every} ms`);
      return notes;
    },
  };
}

export const soakScenario: Scenario = {
  name: 'soak',
  description: 'The groups mix at a steady rate for a long time, watching latency drift and (on the reference relay) memory growth.',
  plan: soakPlan,
};
