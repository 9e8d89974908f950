/**
 * A stand-in for the k6 runtime, to execute the real k6 bundle logic in
 * Node: the k6 modules the bundles import, backed by ws and Node timers,
 * and a vm context with only what k6 1.3 has (no process, Buffer, require,
 * TextEncoder or performance; a Uint8Array.from that rejects strings, as
 * measured). It is not k6: it checks our code against k6's API shape and
 * missing globals, not k6 itself. An execution segment is emulated as k6
 * documents it: exec.test.options carries it (and throws in the init
 * context, as k6 does), and the scenarios are scaled to the segment (with
 * our formula, which agrees with k6's striping for an even split).
 */
import { webcrypto } from 'node:crypto';
import { readFileSync } from 'node:fs';
import vm from 'node:vm';
import WebSocket from 'ws';
import type { Plugin } from 'esbuild';
import { runRole } from '../node/executor.js';
import { MetricStore } from '../node/metrics.js';
import type { MetricKind } from '../core/runtime.js';
import { parseDuration } from '../core/settings.js';
import { evaluateThreshold } from '../core/thresholds.js';
import { asK6SetupData } from '../core/setup-data.js';
import { segmentInstance } from '../core/instance.js';
import { scaleExecutor } from '../core/k6-options.js';
import type { Executor } from '../core/scenario.js';

type Listener = (event: Record<string, unknown>) => void;

class ShimWebSocket {
  static readonly all = new Set<ShimWebSocket>();
  readyState = 0;
  private readonly ws: WebSocket;
  private readonly listeners = new Map<string, Listener[]>();

  constructor(url: string) {
    this.ws = new WebSocket(url);
    ShimWebSocket.all.add(this);
    this.ws.on('open', () => {
      this.readyState = 1;
      this.emit('open', { type: 'open' });
    });
    this.ws.on('message', (data) => this.emit('message', { type: 'message', data: data.toString(), timestamp: Date.now() }));
    this.ws.on('close', () => {
      this.readyState = 3;
      ShimWebSocket.all.delete(this);
      this.emit('close', { type: 'close' });
    });
    this.ws.on('error', (err) => this.emit('error', { type: 'error', error: err.message }));
  }

  private emit(name: string, event: Record<string, unknown>): void {
    for (const f of this.listeners.get(name) ?? []) f(event);
  }

  addEventListener(name: string, f: Listener): void {
    this.listeners.set(name, [...(this.listeners.get(name) ?? []), f]);
  }

  send(text: string): void {
    this.ws.send(text);
  }

  close(): void {
    this.readyState = 2;
    this.ws.close();
  }

  static terminateAll(): void {
    for (const s of ShimWebSocket.all) s.ws.terminate();
  }
}

export interface Shim {
  metrics: MetricStore;
  exec: { vu: { idInTest: number }; scenario: { iterationInTest: number; iterationInInstance: number; startTime: number }; readonly test: { options: Record<string, unknown> } };
  /** check() results by name, as k6 aggregates them. */
  checks: Map<string, { passes: number; fails: number }>;
  /** The execution segment this k6 stand-in runs (k6 run --execution-segment …), if any. */
  segment: { executionSegment: string; executionSegmentSequence: string | null } | undefined;
  /** 'init' while the bundle's init code runs: exec.test throws then, as in k6. */
  phase: 'init' | 'run';
  /** k6/http is synchronous: answers come from this cache, which the test keeps fresh. */
  httpCache: Map<string, { status: number; body: string }>;
  modules: Record<string, Record<string, unknown>>;
  terminateAll(): void;
}

export function makeShim(segment?: Shim['segment']): Shim {
  const metrics = new MetricStore();
  const metric = (kind: MetricKind) =>
    class {
      constructor(readonly name: string) {
        metrics.define({ name, kind });
      }
      add(value: number | boolean): void {
        metrics.add(this.name, value);
      }
    };
  const checks = new Map<string, { passes: number; fails: number }>();
  const shim: Shim = {
    metrics,
    exec: {
      vu: { idInTest: 1 },
      scenario: { iterationInTest: 0, iterationInInstance: 0, startTime: Date.now() },
      get test() {
        if (shim.phase === 'init') throw new Error('getting test options in the init context is not supported');
        return { options: { executionSegment: segment?.executionSegment ?? null, executionSegmentSequence: segment?.executionSegmentSequence ?? null } };
      },
    },
    checks,
    segment,
    phase: 'init',
    httpCache: new Map(),
    terminateAll: () => ShimWebSocket.terminateAll(),
    modules: {},
  };
  const ws = { WebSocket: ShimWebSocket };
  const check = (value: unknown, sets: Record<string, (v: unknown) => boolean>): boolean => {
    let all = true;
    for (const [name, fn] of Object.entries(sets)) {
      const ok = fn(value) === true;
      all &&= ok;
      const c = checks.get(name) ?? { passes: 0, fails: 0 };
      if (ok) c.passes += 1;
      else c.fails += 1;
      checks.set(name, c);
    }
    return all;
  };
  const httpCache = shim.httpCache;
  shim.modules = {
      k6: { check },
      'k6/websockets': ws,
      'k6/experimental/websockets': ws,
      'k6/timers': { setTimeout, clearTimeout },
      'k6/metrics': { Counter: metric('counter'), Rate: metric('rate'), Trend: metric('trend'), Gauge: metric('gauge') },
      'k6/http': { default: { get: (url: string) => httpCache.get(url) ?? { status: 0, body: null } } },
      'k6/execution': { default: shim.exec },
      // `new` on a function that returns an object yields that object: the array itself.
      'k6/data': {
        SharedArray: function (_name: string, fill: () => unknown[]): unknown[] {
          return fill();
        },
      },
  };
  return shim;
}

/** Resolves every k6 import to the shim object the vm context holds as `__k6shim`. */
export function shimPlugin(shim: Shim): Plugin {
  return {
    name: 'k6-shim',
    setup(b) {
      b.onResolve({ filter: /^k6(\/.*)?$/ }, (args) => ({ path: args.path, namespace: 'k6-shim' }));
      b.onLoad({ filter: /.*/, namespace: 'k6-shim' }, (args) => {
        const names = Object.keys(shim.modules[args.path] ?? {});
        if (names.length === 0) return { errors: [{ text: `the k6 shim has no module ${args.path}` }] };
        const m = `globalThis.__k6shim[${JSON.stringify(args.path)}]`;
        const lines = names.map((n) => (n === 'default' ? `export default ${m}.default;` : `export const ${n} = ${m}.${n};`));
        return { contents: lines.join('\n'), loader: 'js' };
      });
    },
  };
}

/** Evaluates an IIFE bundle in a context with k6 1.3's globals only; returns its exports. */
export function evaluateBundle(code: string, shim: Shim, env: Record<string, string>, globalName: string): Record<string, unknown> {
  const context = vm.createContext({
    console,
    __ENV: Object.freeze({ ...env }),
    open: (path: string) => readFileSync(path, 'utf8'),
    crypto: { getRandomValues: <T extends ArrayBufferView>(a: T): T => webcrypto.getRandomValues(a as unknown as Uint8Array) as unknown as T },
    __k6shim: shim.modules,
  });
  // k6 1.3 measured: Uint8Array.from rejects a string source.
  vm.runInContext(
    `(() => { const from = Uint8Array.from; Object.defineProperty(Uint8Array, 'from', { configurable: true, writable: true, value: function (src, ...rest) { if (typeof src === 'string') throw new TypeError('string source'); return from.call(this, src, ...rest); } }); })();`,
    context,
  );
  shim.phase = 'init';
  vm.runInContext(code, context, { filename: `${globalName}.js` });
  const exports = vm.runInContext(globalName, context) as Record<string, unknown>;
  shim.phase = 'run';
  return exports;
}

export interface K6Lifecycle {
  exitCode: 0 | 99;
  /** What handleSummary returned: stdout and the three files. */
  outputs: Record<string, string>;
}

type Fn = (...args: unknown[]) => unknown;

/**
 * Runs a bundle's exports the way `k6 run` does: setup, every options.scenarios
 * entry under its executor (the Node driver's executors; scaled to the
 * shim's segment, as k6 scales them), teardown, thresholds, then
 * handleSummary with k6's summary data: the legacy shape (k6 1.x default),
 * or the machine-readable one (`--new-machine-readable-summary`), which
 * carries no setup_data and only root checks.
 */
export async function runK6Lifecycle(exports: Record<string, unknown>, shim: Shim, shape: 'legacy' | 'machine-readable' = 'legacy'): Promise<K6Lifecycle> {
  const options = exports.options as { scenarios: Record<string, Record<string, unknown> & { exec: string }>; thresholds: Record<string, string[]> };
  const segment = shim.segment === undefined ? undefined : segmentInstance(shim.segment.executionSegment, shim.segment.executionSegmentSequence ?? undefined);
  const t0 = Date.now();
  // What k6 does between setup() and the VUs: json.Marshal of goja's export (undefined properties become null).
  const data = asK6SetupData(await (exports.setup as Fn)());
  const scenarios = Object.entries(options.scenarios).flatMap(([name, sc]) => {
    const scaled = segment === undefined ? sc : scaleExecutor(sc as unknown as Executor, segment);
    return scaled === undefined ? [] : [[name, { ...sc, ...scaled } as Record<string, unknown> & { exec: string }] as const];
  });
  const outcomes = await Promise.all(
    scenarios.map(([name, sc]) => {
      const durationMs = parseDuration(String(sc.duration ?? sc.maxDuration));
      const fn = exports[sc.exec] as Fn;
      const role = {
        name,
        executor: sc as never,
        durationMs,
        run: (_rt: unknown, d: unknown, it: { vu: number; iteration: number; deadline: number }) => {
          shim.exec.vu.idInTest = it.vu;
          // One instance: the stand-in does not number iterations across instances.
          shim.exec.scenario.iterationInTest = it.iteration;
          shim.exec.scenario.iterationInInstance = it.iteration;
          shim.exec.scenario.startTime = it.deadline - durationMs;
          return fn(d) as Promise<void>;
        },
      };
      return runRole({} as never, role, data, { graceMs: 5000, cut: () => shim.terminateAll() });
    }),
  );
  await (exports.teardown as Fn)(data);
  const seconds = (Date.now() - t0) / 1000;
  const metrics: Record<string, unknown> = {};
  let failed = false;
  for (const name of shim.metrics.names()) {
    // k6 leaves a metric without samples out of the summary and skips its thresholds (they pass).
    if (shim.metrics.samples(name) === 0) continue;
    const values = shim.metrics.valuesOf(name, seconds);
    const thresholds = Object.fromEntries(
      (options.thresholds[name] ?? []).map((e) => {
        const ok = evaluateThreshold(name, e, values).ok === true;
        failed ||= !ok;
        return [e, { ok }];
      }),
    );
    metrics[name] = { type: shim.metrics.kindOf(name), contains: 'default', values, thresholds };
  }
  const dropped = outcomes.reduce((n, o) => n + o.dropped, 0);
  if (dropped > 0) metrics.dropped_iterations = { type: 'counter', contains: 'default', values: { count: dropped, rate: dropped / seconds }, thresholds: {} };
  const checks = [...shim.checks].map(([name, c]) => ({ name, path: `::${name}`, id: name, ...c }));
  // k6 passes the marshalled setup data to handleSummary as setup_data (legacy shape).
  const summaryData =
    shape === 'legacy'
      ? { metrics, setup_data: data, state: { testRunDurationMs: seconds * 1000 }, root_group: { name: '', path: '', id: '', groups: [], checks }, options: {} }
      : {
          version: '1.0.0',
          config: { duration: seconds, execution: 'local' },
          metadata: { generatedAt: new Date().toISOString(), k6Version: '2.2.0' },
          results: {
            metrics: Object.entries(metrics).map(([name, m]) => ({ name, type: (m as { type: string }).type, contains: 'default', values: machineReadable((m as { type: string }).type, (m as { values: Record<string, number> }).values) })),
            checks: { metrics: [], results: checks.map(({ name, passes, fails }) => ({ name, passes, fails })) },
          },
        };
  const outputs = (exports.handleSummary as Fn)(summaryData) as Record<string, string>;
  return { exitCode: failed ? 99 : 0, outputs };
}

/** A metric's values as the machine-readable schema (k6 internal/lib/summary/machinereadable) keeps them. */
function machineReadable(type: string, v: Record<string, number>): Record<string, number> {
  switch (type) {
    case 'counter':
      return { count: v.count ?? 0 };
    case 'rate':
      return { matches: v.passes ?? 0, total: (v.passes ?? 0) + (v.fails ?? 0), rate: v.rate ?? 0 };
    case 'gauge':
      return { value: v.value ?? 0, min: v.min ?? 0, max: v.max ?? 0 };
    default:
      return Object.fromEntries(['avg', 'min', 'med', 'max', 'p(90)', 'p(95)'].flatMap((k) => (v[k] === undefined ? [] : [[k, v[k]]])));
  }
}

/**
 * k6/http is synchronous: the stand-in answers from the shim's cache, which
 * this keeps fresh in the background (NIP-11 and /metrics of the relay).
 * Resolves once filled; call the result to stop.
 */
export async function serveHttp(shim: Shim, relayUrl: string): Promise<() => void> {
  const base = relayUrl.replace(/^ws(s?):\/\//, 'http$1://');
  const urls = [base, `${base}/metrics`];
  const refresh = async (): Promise<void> => {
    for (const [i, url] of urls.entries()) {
      const res = await fetch(url, { headers: i === 0 ? { Accept: 'application/nostr+json' } : {} });
      shim.httpCache.set(url, { status: res.status, body: await res.text() });
    }
  };
  await refresh();
  const timer = setInterval(() => void refresh().catch(() => undefined), 200);
  return () => clearInterval(timer);
}
