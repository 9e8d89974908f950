/**
 * Where one instance of a split test stands, and its share of the work.
 *
 * A test is split with k6's own mechanism, execution segments
 * (`k6 run --execution-segment 1/4:1/2 --execution-segment-sequence
 * 0,1/4,1/2,3/4,1`, what k6-operator passes each runner), or with
 * `-e INSTANCE=i -e INSTANCES=n` (what `kpsuite load --instances` gives the
 * Node driver). k6 exposes the segment to scripts only as
 * `exec.test.options.executionSegment` and `.executionSegmentSequence`
 * (canonical `from:to` and `a,b,…` strings, null when not given), and only
 * outside the init context, so the instance is known from setup() on.
 *
 * Every scenario divides its pre-made fixture into units (an owner with its
 * racers, a requester with its owners, a member, a batch of KeyPackages) and
 * takes `unitRange(units, instance)`: contiguous, disjoint across the
 * instances of one test, covering it. For an even split (n equal segments,
 * or INSTANCE/INSTANCES) instance i gets ceil((units − i) / n) units, which
 * is what k6's striped scaling gives it of a VU count; otherwise the
 * boundaries are units × from and × to rounded half up (k6's
 * ExecutionSegment.Scale; k6's striping may count VUs differently there).
 * Pure code: it is bundled into k6 too.
 */
import { SettingsError, type Env } from './settings.js';

/** A rational number as [numerator, denominator], reduced, denominator > 0. */
export type Ratio = readonly [number, number];

export interface Instance {
  /** Where the split came from: the whole test, INSTANCE/INSTANCES, or a k6 execution segment. */
  source: 'whole' | 'env' | 'segment';
  /** The segment in k6's canonical form, `0:1` for the whole test. */
  segment: string;
  /** The sequence it belongs to, when given (k6 canonical form). */
  sequence?: string;
  /** Its place (from 0) among `count` equal parts, when the split is even (INSTANCE/INSTANCES or n equal segments). */
  index?: number;
  count?: number;
}

export const WHOLE: Instance = { source: 'whole', segment: '0:1' };

const gcd = (a: number, b: number): number => (b === 0 ? Math.abs(a) : gcd(b, a % b));

function ratio(num: number, den: number): Ratio {
  const g = gcd(num, den) || 1;
  return [num / g, den / g];
}

/** k6's notations: `1/3`, `0.25`, `25%`, `1`. Throws SettingsError otherwise. */
export function parseRatio(text: string): Ratio {
  const t = text.trim();
  let m = /^(\d+)\/(\d+)$/.exec(t);
  if (m && Number(m[2]) > 0) return ratio(Number(m[1]), Number(m[2]));
  m = /^(\d+)%$/.exec(t);
  if (m) return ratio(Number(m[1]), 100);
  m = /^(\d+)(?:\.(\d+))?$/.exec(t);
  if (m) {
    const decimals = m[2] ?? '';
    return ratio(Number(`${m[1]}${decimals}`), 10 ** decimals.length);
  }
  throw new SettingsError(`"${text}" is not a fraction, decimal or percentage as k6 writes execution segments`);
}

export const ratioText = ([n, d]: Ratio): string => (d === 1 ? String(n) : `${n}/${d}`);
const less = (a: Ratio, b: Ratio): boolean => a[0] * b[1] < b[0] * a[1];
const same = (a: Ratio, b: Ratio): boolean => a[0] * b[1] === b[0] * a[1];

/** A segment `from:to` (or `to`, meaning `0:to`), 0 ≤ from < to ≤ 1, as k6 parses it. */
export function parseSegment(text: string): { from: Ratio; to: Ratio } {
  const [a, b] = text.includes(':') ? text.split(':', 2) : ['0', text || '1'];
  const from = parseRatio(a ?? '0');
  const to = parseRatio(b ?? '1');
  if (!less(from, to) || less([1, 1], to)) throw new SettingsError(`execution segment "${text}" must satisfy 0 <= from < to <= 1`);
  return { from, to };
}

export function parseSequence(text: string): Ratio[] {
  const points = text.split(',').map(parseRatio);
  if (points.length < 2 || points.some((p, i) => i > 0 && !less(points[i - 1] as Ratio, p))) throw new SettingsError(`execution segment sequence "${text}" must rise from 0 towards 1`);
  return points;
}

/** The instance an execution segment (and its sequence, when given) describes. */
export function segmentInstance(segment: string, sequence?: string): Instance {
  const { from, to } = parseSegment(segment);
  const canonical = `${ratioText(from)}:${ratioText(to)}`;
  if (canonical === '0:1' && sequence === undefined) return WHOLE;
  if (sequence === undefined) return { source: 'segment', segment: canonical };
  const points = parseSequence(sequence);
  const at = points.findIndex((p, i) => same(p, from) && same(points[i + 1] ?? [2, 1], to));
  if (at < 0) throw new SettingsError(`execution segment ${canonical} is not part of the sequence ${sequence}`);
  const n = points.length - 1;
  if (n === 1) return WHOLE;
  const even = same(points[0] as Ratio, [0, 1]) && same(points[n] as Ratio, [1, 1]) && points.every((p, i) => same(p, [i, n]));
  return { source: 'segment', segment: canonical, sequence: points.map(ratioText).join(','), ...(even ? { index: at, count: n } : {}) };
}

/** INSTANCE=i (from 1) of INSTANCES=n from the knobs, or undefined when neither is given. */
export function envInstance(env: Env): Instance | undefined {
  const [i, n] = [env.INSTANCE, env.INSTANCES].map((v) => (v === undefined || v === '' ? undefined : Number(v)));
  if (i === undefined && n === undefined) return undefined;
  if (i === undefined || n === undefined || !Number.isInteger(i) || !Number.isInteger(n) || n > 1000 || i < 1 || i > n) {
    throw new SettingsError(`INSTANCE and INSTANCES go together: INSTANCE=i of INSTANCES=n, 1 <= i <= n <= 1000 (got INSTANCE=${env.INSTANCE ?? ''}, INSTANCES=${env.INSTANCES ?? ''})`);
  }
  if (n === 1) return WHOLE;
  const points = Array.from({ length: n + 1 }, (_, k) => ratioText(ratio(k, n)));
  return { source: 'env', segment: `${points[i - 1]}:${points[i]}`, sequence: points.join(','), index: i - 1, count: n };
}

/** What k6 says of the segment (exec.test.options), null or absent when not split. */
export interface K6Segment {
  executionSegment?: string | null;
  executionSegmentSequence?: string | null;
}

/** The instance this run is: INSTANCE/INSTANCES or the k6 segment (not both), else the whole test. */
export function resolveInstance(env: Env, k6?: K6Segment): Instance {
  const fromEnv = envInstance(env);
  const segment = k6?.executionSegment ?? undefined;
  const fromK6 = segment === undefined ? undefined : segmentInstance(segment, k6?.executionSegmentSequence ?? undefined);
  if (fromEnv !== undefined && fromK6 !== undefined && fromK6.source !== 'whole') {
    throw new SettingsError('give either -e INSTANCE/INSTANCES or --execution-segment, not both: k6 already scales a segmented run');
  }
  return fromEnv ?? fromK6 ?? WHOLE;
}

/** Round half up of n × r, exactly (k6's roundUp on big.Rat). */
function scaled(n: number, [p, q]: Ratio): number {
  return Math.floor((2 * n * p + q) / (2 * q));
}

/** This instance's units of `units`: [start, end), disjoint across a test's instances and covering it. */
export function unitRange(units: number, inst: Instance): [number, number] {
  if (inst.index !== undefined && inst.count !== undefined) {
    const n = inst.count;
    const share = (i: number): number => Math.ceil((units - i) / n);
    let start = 0;
    for (let i = 0; i < inst.index; i++) start += Math.max(0, share(i));
    return [start, start + Math.max(0, share(inst.index))];
  }
  const { from, to } = parseSegment(inst.segment);
  return [scaled(units, from), scaled(units, to)];
}

/** How many of `units` fall to this instance. */
export function unitCount(units: number, inst: Instance): number {
  const [a, b] = unitRange(units, inst);
  return b - a;
}

/** The share of the test this instance runs, as a number (for rates). */
export function share(inst: Instance): number {
  const { from, to } = parseSegment(inst.segment);
  return to[0] / to[1] - from[0] / from[1];
}

/** "instance 2 of 4 (segment 1/4:1/2)", or "the whole test". */
export function instanceLabel(inst: Instance): string {
  if (inst.source === 'whole') return 'the whole test';
  const place = inst.index !== undefined ? `instance ${inst.index + 1} of ${inst.count} ` : '';
  return `${place}(segment ${inst.segment}${inst.source === 'env' ? ', INSTANCE/INSTANCES' : ''})`;
}

/** What a split run's summary files are tagged with, so instances sharing a folder do not overwrite each other. */
export function instanceTag(inst: Instance | undefined): string {
  if (inst === undefined || inst.source === 'whole') return '';
  if (inst.index !== undefined) return `.instance-${inst.index + 1}-of-${inst.count}`;
  return `.segment-${inst.segment.replace(/\//g, '_').replace(':', '-')}`;
}
