/**
 * The bench driver: relays in child processes, and closed-loop workers on
 * the load suite's own Node sockets (each connection sends its next
 * request when the previous one is answered). The same code drives every
 * relay, so their figures compare.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { percentile } from '../../load/node/metrics.js';

export interface Measured {
  /** Requests answered per second. */
  opsPerSecond: number;
  /** Items (KeyPackages handed out, events accepted) per second. */
  itemsPerSecond: number;
  p50: number;
  p99: number;
  ops: number;
  errors: number;
  seconds: number;
}

export type Step = () => Promise<{ ms: number; items: number } | 'done' | undefined>;

/** Runs `workers` loops of `step` for `seconds` (or until a step says done). */
export async function closedLoop(workers: readonly Step[], seconds: number): Promise<Measured> {
  const latencies: number[] = [];
  let items = 0;
  let errors = 0;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  await Promise.all(
    workers.map(async (step) => {
      while (performance.now() < end) {
        const r = await step();
        if (r === 'done') return;
        if (r === undefined) errors += 1;
        else {
          latencies.push(r.ms);
          items += r.items;
        }
      }
    }),
  );
  return measured(latencies, items, errors, t0);
}

/** The figures of a loop that began at `t0`. */
function measured(latencies: number[], items: number, errors: number, t0: number): Measured {
  const elapsed = (performance.now() - t0) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    opsPerSecond: latencies.length / elapsed,
    itemsPerSecond: items / elapsed,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    ops: latencies.length,
    errors,
    seconds: elapsed,
  };
}

/**
 * Open loop: each of `workers` sends its asks at a fixed rate, `perSecond` in all, whether or not
 * the relay keeps up, and a latency counts from when its ask was due, not when it was sent (no
 * coordinated omission: a relay that falls behind shows it in the figures).
 */
export async function pacedLoop(workers: readonly Step[], seconds: number, perSecond: number): Promise<Measured> {
  const latencies: number[] = [];
  let items = 0;
  let errors = 0;
  const interval = (1000 * workers.length) / perSecond;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  await Promise.all(
    workers.map(async (step, w) => {
      // Staggered, so the connections' asks do not all fall due together.
      for (let due = t0 + (interval * w) / workers.length; due < end; due += interval) {
        const ahead = due - performance.now();
        if (ahead > 0) await new Promise((resolve) => setTimeout(resolve, ahead));
        const r = await step();
        if (r === 'done') return;
        if (r === undefined) errors += 1;
        else {
          latencies.push(performance.now() - due);
          items += r.items;
        }
      }
    }),
  );
  return measured(latencies, items, errors, t0);
}

export interface RelayChild {
  url: string;
  /** The relay process, for its CPU time (bench/load/driver.ts). */
  pid: number | undefined;
  /** Starts the child's CPU profiler (inspector), for the next timed phase only. */
  startProfile(): Promise<void>;
  /** Stops it and writes the .cpuprofile to `file`. */
  stopProfile(file: string): Promise<void>;
  stop(): Promise<void>;
}

/** The relays relay-process.js starts. */
export type RelayKind = 'reference' | 'reference-no-mls' | 'reference-single-commit' | 'reference-checkpoint-in-commits' | 'reference-main-thread' | 'nostr-relay' | 'strfry';

/** Starts load/bench/relay-process.js; resolves once it printed its URL. */
export async function spawnRelay(kind: RelayKind, dir: string, root = ''): Promise<RelayChild> {
  const script = fileURLToPath(new URL('./relay-process.js', import.meta.url));
  const child: ChildProcessWithoutNullStreams = spawn(process.execPath, [script, kind, dir, root], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += String(d)));
  const lines = createInterface({ input: child.stdout });
  const waiting: { resolve: (line: string) => void; reject: (err: Error) => void }[] = [];
  lines.on('line', (line) => waiting.shift()?.resolve(line));
  child.once('exit', (code) => {
    for (const w of waiting.splice(0)) w.reject(new Error(`${kind} relay exited (${code}): ${stderr.trim().slice(-500)}`));
  });
  const nextLine = (what: string, timeoutMs = 60_000): Promise<string> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${kind} relay: no ${what} in ${timeoutMs} ms ${stderr.trim()}`)), timeoutMs);
      const settle = <T>(f: (v: T) => void) => (v: T): void => {
        clearTimeout(timer);
        f(v);
      };
      waiting.push({ resolve: settle(resolve), reject: settle(reject) });
    });
  const { url } = JSON.parse(await nextLine('URL')) as { url: string };
  const command = async (text: string): Promise<void> => {
    child.stdin.write(`${text}\n`);
    const reply = await nextLine(`reply to ${text}`);
    if (reply !== 'ok') throw new Error(`${kind} relay: ${reply}`);
  };
  return {
    url,
    pid: child.pid,
    startProfile: () => command('start-profile'),
    stopProfile: (file) => command(`stop-profile ${file}`),
    stop: async () => {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.stdin.end('stop\n');
      const inTime = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 10_000))]);
      if (!inTime) child.kill('SIGKILL');
    },
  };
}
