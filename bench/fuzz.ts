/**
 * kp-robust-bad-input (PROFILE.md §8.1) under fuzzing: malformed frames on
 * several connections to `kpsuite relay` in its own process — random JSON
 * (fast-check), text that is not JSON, deep nesting, huge strings and arrays
 * within and over the NIP-11 `max_message_length`, wrong types in every field
 * of EVENT, REQ, CLOSE and AUTH, bad filters, bad ids and signatures, lone
 * surrogates, text split inside a UTF-8 character across fragments, binary
 * frames, invalid UTF-8, and frames over 16 MiB — while a well-behaved client
 * on another connection keeps asking for a note.
 *
 * Each frame is followed on its connection by a marker (`["REQ","~m…",null]`,
 * itself refused `CLOSED "invalid:"`), so every answer is attributed to the
 * frame it answers. A frame must get exactly one answer, a refusal §8.1 names:
 * `NOTICE "invalid: ..."`, `CLOSED <its sub> "invalid: ..."` when its
 * subscription id can be read, or `OK <its id> false "invalid: ..."` when its
 * event id can be read. A frame of invalid UTF-8 may instead close its
 * connection with 1007 (RFC 6455 §8.1 requires it), and one over 16 MiB with
 * 1009 (§8.1 allows it); each of those goes on a fresh connection.
 *
 * `node dist/bench/fuzz.js [--frames 1000000] [--no-write]` writes bench/results/fuzz.json.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import WebSocket from 'ws';
import { keyPackage, textNote } from '../fixtures/events.js';
import { newKeys, sign, type Keys } from '../protocol/crypto.js';
import type { NostrEvent, RelayInformation } from '../protocol/messages.js';
import { KIND, TAG } from '../protocol/profile.js';
import { workerScript } from '../reference-relay/worker-script.js';
import { mulberry32, spawnBuiltRelay, type RelayProcess } from './crash.js';
import type { WatcherAnswer, WatcherAsk } from './fuzz-watcher.js';
import { machine, writeResult } from './machine.js';

/** How a frame goes on the wire. */
export type Outgoing = { text: string } | { fragments: Buffer[] } | { binary: Buffer };

export interface FuzzFrame {
  /** The generator that made it, for the report. */
  what: string;
  out: Outgoing;
  /** The event id an `OK false "invalid: ..."` may carry: the frame's, when it can be read. */
  ok?: string;
  /** The subscription id a `CLOSED "invalid: ..."` may carry: the frame's, when it can be read. */
  closed?: string;
}

export interface FuzzContext {
  maxMessageLength: number;
  /** Signed events to break, one of each kind the relay routes differently. */
  events: NostrEvent[];
  /** Signed kind 22242 events for a challenge no connection has: every AUTH with one is refused. */
  auths: NostrEvent[];
}

/** The signed events the generators break: a note, a genuine KeyPackage, a kind 447, a deletion, and AUTH events for no connection. */
export async function fuzzContext(maxMessageLength: number, relayUrl: string): Promise<FuzzContext> {
  const keys = newKeys();
  const other = newKeys();
  const now = Math.floor(Date.now() / 1000);
  const ev = (kind: number, tags: string[][], content = ''): NostrEvent => sign({ kind, created_at: now, tags, content }, keys);
  const events = [
    textNote(keys, 'fuzz'),
    await keyPackage(keys),
    ev(KIND.keyPackageRequest, [[TAG.pubkey, other.pubkey]]),
    ev(KIND.deletion, [[TAG.event, 'ab'.repeat(32)]]),
  ];
  const auth = (k: Keys, challenge: string): NostrEvent =>
    sign({ kind: KIND.auth, created_at: now, tags: [[TAG.relay, relayUrl], [TAG.challenge, challenge]], content: '' }, k);
  return { maxMessageLength, events, auths: [auth(keys, 'not-this-connections-challenge'), auth(other, '')] };
}

const TYPES = new Set(['EVENT', 'REQ', 'CLOSE', 'AUTH']);
/** Marker subscription ids start so; no generated sub id does. */
const MARKER = '~m';
const HEX = '0123456789abcdef';

/** How often each generator of FrameFuzzer runs, relative to the others. */
const WEIGHTS = {
  garbage: 120,
  jsonNotMessage: 100,
  unknownType: 40,
  deepNesting: 20,
  eventWrongType: 140,
  eventBadIdOrSig: 80,
  reqBad: 180,
  closeBad: 50,
  authBad: 80,
  loneSurrogate: 30,
  fragmented: 30,
  // Few, and large: they set the bytes on the wire.
  huge: 2,
} as const;

/** A seeded generator of malformed frames; `next()` is cheap enough for a million. */
export class FrameFuzzer {
  private readonly r: () => number;
  private jsonPool: unknown[] = [];
  private readonly pads = new Map<number, string>();
  private readonly total = Object.values(WEIGHTS).reduce((n, w) => n + w, 0);

  constructor(
    private readonly seed: number,
    private readonly ctx: FuzzContext,
  ) {
    this.r = mulberry32(seed);
  }

  next(): FuzzFrame {
    let x = this.r() * this.total;
    for (const [generator, weight] of Object.entries(WEIGHTS) as [keyof typeof WEIGHTS, number][]) {
      x -= weight;
      if (x < 0) return this[generator]();
    }
    return this.garbage();
  }

  /** A binary frame: random bytes, UTF-8 cut short, or a valid-looking message as binary. */
  binary(): FuzzFrame {
    const kinds = [
      () => Buffer.from(Array.from({ length: this.int(0, 300) }, () => this.int(0, 255))),
      () => Buffer.from('["REQ","bin",{"kinds":[1]}]'),
      () => Buffer.from('["EVENT",{"content":"é€😀'.slice(0, this.int(16, 30)), 'utf8').subarray(0, -1),
    ];
    return { what: 'binary', out: { binary: this.pick(kinds)() } };
  }

  /** A text frame that is not UTF-8: its connection is closed with 1007. */
  badUtf8(): Buffer {
    const tails = [[0xe2, 0x82], [0x80], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xff], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xf4, 0x90, 0x80, 0x80]];
    return Buffer.concat([Buffer.from('["REQ","utf8",{"#t":["'), Buffer.from(this.pick(tails)), Buffer.from('"]}]')]);
  }

  // --- helpers ---

  private int(lo: number, hi: number): number {
    return lo + Math.floor(this.r() * (hi - lo + 1));
  }

  private pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.r() * xs.length)]!;
  }

  private hex(n: number): string {
    let s = '';
    for (let i = 0; i < n; i++) s += HEX[this.int(0, 15)];
    return s;
  }

  private pad(n: number): string {
    let p = this.pads.get(n);
    if (p === undefined) {
      p = 'x'.repeat(n);
      if (this.pads.size < 64) this.pads.set(n, p);
    }
    return p;
  }

  /** Random JSON values from fast-check, drawn 500 at a time from the generator's own seed. */
  private json(): unknown {
    if (this.jsonPool.length === 0) this.jsonPool = fc.sample(fc.jsonValue(), { seed: this.seed + this.int(0, 1e9), numRuns: 500 });
    return this.jsonPool.pop();
  }

  private subId(): string {
    const alphabets = ['abcdefghijklmnopqrstuvwxyz0123456789', ' "\\/\n\t\u0000{}[],:', 'é€😀中\u200b\ufeff'];
    const alphabet = [...this.pick(alphabets)];
    let s = '';
    for (let i = this.int(1, 20); i > 0; i--) s += this.pick(alphabet);
    return s.startsWith(MARKER) ? `x${s}` : s;
  }

  private goodFilter(): Record<string, unknown> {
    return this.pick([{ kinds: [1] }, { authors: [this.hex(64)] }, { ids: [this.hex(64)], limit: 1 }, { '#e': ['x'] }, { since: 0, until: 1 }, {}]);
  }

  /** A filter NIP-01 does not allow: not an object, or a field of the wrong type or form. */
  private badFilter(): unknown {
    if (this.r() < 0.2) return this.pick([5, 'x', null, true, [], [{}], 1.5]);
    const hex64 = this.hex(64);
    const bad: Record<string, unknown[]> = {
      ids: ['x', [1], ['abc'], [hex64.toUpperCase().replace(/^./, 'A')], [this.hex(63)], [this.hex(65)], [null], {}, null, hex64, [hex64, 5]],
      kinds: ['1', [-1], [1.5], [65536], ['1'], [null], 1, null, {}, [1e20]],
      since: [-1, 1.5, '1', null, [], {}, true, -0.5],
      limit: [-1, 1.5, '10', null, [], {}, false],
      '#e': ['x', [1], [null], {}, null, [['a']], 5],
    };
    bad.authors = bad.ids!;
    bad.until = bad.since!;
    bad['#p'] = bad['#e']!;
    const key = this.pick(Object.keys(bad));
    return { ...(this.r() < 0.5 ? this.goodFilter() : {}), [key]: this.pick(bad[key]!) };
  }

  private event(): Record<string, unknown> {
    return { ...this.pick(this.ctx.events) };
  }

  /** An EVENT-shaped object broken in one field; what an answer may name. */
  private brokenEvent(base: Record<string, unknown> = this.event()): { event: Record<string, unknown>; ok?: string } {
    const field = this.pick(['id', 'pubkey', 'created_at', 'kind', 'tags', 'content', 'sig']);
    const wrong: Record<string, unknown[]> = {
      id: [1, null, true, {}, [], undefined, '', 'xyz', String(base.id).toUpperCase(), `${String(base.id)}00`, String(base.id).slice(2)],
      pubkey: [1, null, {}, [], undefined, '', this.hex(63), this.hex(64).toUpperCase(), this.hex(64)],
      created_at: ['1', '', null, true, [], {}, -1, 1.5, 1e300, undefined],
      kind: ['1', null, [], {}, -1, 1.5, 70000, 1e300, undefined],
      tags: ['x', [1], [['a', 1]], {}, null, [[null]], [[]], undefined, [['e', this.hex(64)]]],
      content: [1, null, [], {}, true, undefined, 'changed'],
      sig: [1, null, [], {}, undefined, '', this.hex(128), '0'.repeat(128), this.hex(127)],
    };
    const value = this.pick(wrong[field]!);
    const event = Object.fromEntries(Object.entries(base).filter(([k]) => k !== field));
    if (value !== undefined) event[field] = value; // undefined: the field is missing
    return { event, ok: typeof event.id === 'string' ? event.id : undefined };
  }

  private text(what: string, message: unknown, answers: { ok?: string; closed?: string } = {}): FuzzFrame {
    return { what, out: { text: JSON.stringify(message) }, ...answers };
  }

  // --- generators: each makes frames that are malformed by construction ---

  private garbage(): FuzzFrame {
    const fixed = ['', ' ', '[', ']', '["REQ", "x", {]', 'NaN', '[1,]', "{'a':1}", '\u0000', '\ufeff["REQ","x",{}]', '[01]', '["\\x41"]', '["a"]]', '[] []', '["\\ud800"', 'undefined', '[Infinity]', '/*c*/[]', '["REQ","x",{}]\u0000', '["CLOSE","x"'];
    const make = [
      () => this.pick(fixed),
      () => {
        const whole = JSON.stringify(['REQ', this.subId(), this.goodFilter()]);
        return whole.slice(0, this.int(0, whole.length - 1));
      },
      () => {
        let s = '';
        for (let i = this.int(1, 200); i > 0; i--) s += String.fromCharCode(this.int(32, 126));
        return s;
      },
    ];
    for (;;) {
      const text = this.pick(make)();
      try {
        JSON.parse(text);
      } catch {
        return { what: 'not JSON', out: { text } };
      }
    }
  }

  private jsonNotMessage(): FuzzFrame {
    const value = this.json();
    if (Array.isArray(value) && typeof value[0] === 'string' && TYPES.has(value[0])) return this.text('random JSON', { message: value });
    return this.text('random JSON', value);
  }

  private unknownType(): FuzzFrame {
    const type = this.pick(['HELLO', 'COUNT', 'event', 'req', 'REQ ', 'EVENTS', 'NOTICE', 'OK', 'EOSE', 'CLOSED', '', 'AUTH\u0000', '\u0415VENT', 'NEG-OPEN']);
    return this.text('unknown message type', [type, ...Array.from({ length: this.int(0, 3) }, () => this.json())]);
  }

  private deepNesting(): FuzzFrame {
    // Depth up to about half the advertised length, sometimes four times over it.
    const max = Math.floor(this.ctx.maxMessageLength / 2) * (this.r() < 0.1 ? 4 : 1);
    const depth = Math.max(2, Math.floor(Math.exp(this.r() * Math.log(max))));
    const arrays = `${'['.repeat(depth)}${']'.repeat(depth)}`;
    const sub = this.subId();
    const id = this.hex(64);
    const variants: (() => FuzzFrame)[] = [
      () => ({ what: 'deep nesting', out: { text: arrays } }),
      () => ({ what: 'deep nesting in a filter', out: { text: `["REQ",${JSON.stringify(sub)},${arrays}]` }, closed: sub }),
      () => ({
        what: 'deep nesting in a filter',
        out: { text: `["REQ",${JSON.stringify(sub)},${'{"kinds":'.repeat(depth)}[1]${'}'.repeat(depth)}]` },
        closed: sub,
      }),
      () => ({ what: 'deep nesting in tags', out: { text: `["EVENT",{"id":"${id}","kind":1,"tags":${arrays},"content":""}]` }, ok: id }),
      () => ({ what: 'deep nesting as the event', out: { text: `["EVENT",${arrays}]` } }),
    ];
    return this.pick(variants)();
  }

  private eventWrongType(): FuzzFrame {
    const shapes: (() => FuzzFrame)[] = [
      () => this.text('EVENT without an event', this.pick([['EVENT'], ['EVENT', 5], ['EVENT', null], ['EVENT', 'x'], ['EVENT', []], ['EVENT', {}], ['EVENT', [this.event()]]])),
      () => {
        const { event, ok } = this.brokenEvent();
        return this.text('EVENT with a field of the wrong type or form', ['EVENT', event, ...(this.r() < 0.1 ? [5] : [])], { ok });
      },
    ];
    return this.pick(shapes)();
  }

  private eventBadIdOrSig(): FuzzFrame {
    const event = this.event();
    const flip = (s: string): string => {
      const i = this.int(0, s.length - 1);
      return `${s.slice(0, i)}${HEX[(HEX.indexOf(s[i]!) + this.int(1, 15)) % 16]}${s.slice(i + 1)}`;
    };
    const which = this.pick(['id', 'sig', 'pubkey', 'other-id'] as const);
    if (which === 'other-id') event.id = this.pick(this.ctx.events.filter((e) => e.id !== event.id)).id;
    else event[which] = flip(String(event[which]));
    return this.text(`EVENT with a bad ${which === 'other-id' ? 'id (another event\'s)' : which}`, ['EVENT', event], { ok: String(event.id) });
  }

  private reqBad(): FuzzFrame {
    const sub = this.subId();
    const variants: (() => FuzzFrame)[] = [
      () => this.text('REQ with a subscription id of the wrong type', ['REQ', this.pick([1, null, true, {}, [], ['a'], 1.5]), this.goodFilter()]),
      () => this.text('REQ without a subscription id', ['REQ']),
      // "" cannot name a subscription (NIP-01): NOTICE, or CLOSED for "".
      () => this.text('REQ with an empty subscription id', ['REQ', '', ...(this.r() < 0.5 ? [this.goodFilter()] : [])], { closed: '' }),
      () => {
        const long = `${sub}${'s'.repeat(this.int(65, 300))}`;
        return this.text('REQ with a subscription id over max_subid_length', ['REQ', long, this.goodFilter()], { closed: long });
      },
      () => this.text('REQ without a filter', ['REQ', sub], { closed: sub }),
      () => {
        const filters: unknown[] = Array.from({ length: this.int(0, 2) }, () => this.goodFilter());
        filters.splice(this.int(0, filters.length), 0, this.badFilter());
        return this.text('REQ with an invalid filter', ['REQ', sub, ...filters], { closed: sub });
      },
    ];
    return this.pick(variants)();
  }

  private closeBad(): FuzzFrame {
    return this.text('CLOSE without a subscription id', ['CLOSE', ...this.pick([[], [1], [null], [true], [{}], [[]], [['a']]])]);
  }

  private authBad(): FuzzFrame {
    const variants: (() => FuzzFrame)[] = [
      () => this.text('AUTH without an event', ['AUTH', ...this.pick([[], ['a-challenge'], [5], [{}], [null], [[]]])]),
      () => {
        const { event, ok } = this.brokenEvent({ ...this.pick(this.ctx.auths) });
        return this.text('AUTH with a broken event', ['AUTH', event], { ok });
      },
      () => {
        const event = this.pick([...this.ctx.auths, ...this.ctx.events]);
        return this.text('AUTH for another challenge, or not kind 22242', ['AUTH', event], { ok: event.id });
      },
    ];
    return this.pick(variants)();
  }

  private loneSurrogate(): FuzzFrame {
    const lone = this.pick(['\ud800', '\udfff', 'a\ud83d', '\ude00b']);
    if (this.r() < 0.5) {
      const sub = `${this.subId()}${lone}`;
      return this.text('REQ, lone surrogate in the sub id', ['REQ', sub, this.badFilter()], { closed: sub });
    }
    const event = this.event();
    event.content = `x${lone}`;
    return this.text('EVENT, lone surrogate in the content', ['EVENT', event], { ok: String(event.id) });
  }

  /** A frame with multi-byte characters, sent in fragments split inside them (the whole message is valid UTF-8). */
  private fragmented(): FuzzFrame {
    const sub = `é€😀${this.subId()}`;
    const bytes = Buffer.from(JSON.stringify(['REQ', sub, this.badFilter()]));
    const cut = bytes.indexOf(Buffer.from('€')) + 1; // inside the euro sign's three bytes
    const cuts = [cut, cut + 4, ...Array.from({ length: this.int(0, 2) }, () => this.int(cut + 5, bytes.length - 1))].sort((a, b) => a - b);
    const fragments = [0, ...cuts].map((from, i) => bytes.subarray(from, cuts[i] ?? bytes.length)).filter((b) => b.length > 0);
    return { what: 'REQ in fragments split inside UTF-8 characters', out: { fragments }, closed: sub };
  }

  /** Within and over max_message_length: strings, arrays, filters. Over it, even a well-formed message is refused. */
  private huge(): FuzzFrame {
    const max = this.ctx.maxMessageLength;
    const size = this.pick([max - this.int(1, 500), max + this.int(1, 500), 2 * max, 4 * max, this.int(max, 8 * max)]);
    const over = size > max;
    const fit = (head: string, tail: string): string => `${head}${this.pad(Math.max(0, size - head.length - tail.length))}${tail}`;
    const sub = this.subId();
    const id = this.hex(64);
    const variants: (() => FuzzFrame)[] = [
      () => {
        // Another content, so the id no longer matches: refused within the limit as well.
        const rest = this.event();
        delete rest.content;
        const head = `${JSON.stringify(['EVENT', rest]).slice(0, -2)},"content":"`;
        return { what: `huge EVENT content (${over ? 'over' : 'within'} max_message_length)`, out: { text: fit(head, '"}]') }, ok: String(rest.id) };
      },
      () => {
        // authors of valid hex: refused for its length when over the limit, else for a limit of the wrong type.
        const authors = Array.from({ length: Math.max(1, Math.floor(size / 67)) }, () => id);
        const valid = JSON.stringify(['REQ', sub, { authors }]);
        const text = Buffer.byteLength(valid) > max ? valid : JSON.stringify(['REQ', sub, { authors, limit: -1 }]);
        return { what: `huge REQ filter (${Buffer.byteLength(text) > max ? 'over' : 'within'} max_message_length)`, out: { text }, closed: sub };
      },
      () => ({ what: 'huge array', out: { text: `[${'1,'.repeat(Math.floor(size / 2))}1]` } }),
      () => ({ what: 'huge message type', out: { text: fit('["', '"]') } }),
      () => ({ what: `huge AUTH (${over ? 'over' : 'within'} max_message_length)`, out: { text: fit(`["AUTH",{"id":"${id}","content":"`, '"}]') }, ok: id }),
    ];
    return this.pick(variants)();
  }
}

/** One answer to one frame, in the words of §8.1; undefined when it is one of the refusals named there. */
export function refusalProblem(frame: FuzzFrame, reply: unknown): string | undefined {
  if (!Array.isArray(reply)) return 'an answer that is not a JSON array';
  const [type, a, b, c] = reply as unknown[];
  const invalid = (m: unknown): boolean => typeof m === 'string' && m.startsWith('invalid: ');
  if (type === 'NOTICE') return invalid(a) ? undefined : 'a NOTICE without the "invalid: " prefix';
  if (type === 'CLOSED') {
    if (frame.closed === undefined) return 'a CLOSED for a frame whose subscription id cannot be read';
    if (a !== frame.closed) return `a CLOSED for ${JSON.stringify(a)}, not the frame's ${JSON.stringify(frame.closed)}`;
    return invalid(b) ? undefined : 'a CLOSED without the "invalid: " prefix';
  }
  if (type === 'OK') {
    if (frame.ok === undefined) return 'an OK for a frame whose event id cannot be read';
    if (a !== frame.ok) return `an OK for ${JSON.stringify(a)}, not the frame's ${JSON.stringify(frame.ok)}`;
    return b === false && invalid(c) ? undefined : 'an OK that is not false "invalid: ..."';
  }
  return `a ${JSON.stringify(type)} message, which is no refusal`;
}

export interface Mismatch {
  what: string;
  /** The frame as sent, cut to 300 characters. */
  frame: string;
  answers: string[];
  problem: string;
}

export interface FuzzOptions {
  /** Text frames across the fuzzing connections (markers not counted). */
  frames: number;
  connections: number;
  /** Frames in flight per connection. */
  window: number;
  seed: number;
  /** Stop sending at this deadline (ms from the start of fuzzing), whatever is left. */
  deadlineMs: number;
  /** One binary frame per this many text frames, on a connection of its own. */
  binaryEvery: number;
  /** One text frame of invalid UTF-8, each on a fresh connection, per this many text frames. */
  badUtf8Every: number;
  /** Frames over 16 MiB, each on a fresh connection. */
  over16MiB: number;
  /** Round trips the well-behaved client makes before fuzzing, for its quiet p99. */
  quietSamples: number;
  /** How long one frame may go unanswered. */
  answerTimeoutMs: number;
  /** Called every 100,000 text frames. */
  progress?: (line: string) => void;
}

export interface FuzzReport {
  seed: number;
  textFrames: number;
  binaryFrames: number;
  badUtf8Frames: number;
  over16MiBFrames: number;
  megabytesSent: number;
  seconds: number;
  framesPerSecond: number;
  deadlineHit: boolean;
  byGenerator: Record<string, number>;
  /** Answers that are not a §8.1 refusal, or frames with no answer or several: the first 100, and how many in all. */
  mismatches: Mismatch[];
  mismatchCount: number;
  /** Every mismatch counted by generator and problem. */
  mismatchKinds: Record<string, number>;
  /** §8.1 allows a NOTICE; NIP-01 clients wait for an OK (EVENT, AUTH) or a CLOSED (REQ): how often a NOTICE came where one of those could have. */
  noticeWhereIdReadable: Record<string, number>;
  /** Connection closes: 1007 for invalid UTF-8 and 1009 over 16 MiB expected; anything else is listed. */
  closes: { invalidUtf8With1007: number; over16MiBWith1009: number; unexpected: string[] };
  /** The relay's VmRSS: before fuzzing, after a quarter of the frames, at the end, and its peak (VmHWM). */
  rssMiB: { before: number; quarter: number; after: number; peak: number };
  /** The well-behaved client's round trips (REQ by id, EVENT, EOSE): quiet, then while the fuzzing runs; the goal is a p99 within 2x. */
  watcher: { quietP50Ms: number; quietP99Ms: number; fuzzP50Ms: number; fuzzP99Ms: number; p99Ratio: number; fuzzSamples: number; failures: string[] };
  /** The relay process was alive at the end and a new connection's well-formed REQ was answered. */
  servedAtTheEnd: boolean;
}

/** VmRSS and VmHWM of a process, in MiB, from /proc/<pid>/status. */
export function memoryOf(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: kib('VmRSS') / 1024, peak: kib('VmHWM') / 1024 };
}

export function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}

const round = (x: number, digits = 2): number => Number(x.toFixed(digits));
const cut = (s: string, n = 300): string => (s.length <= n ? s : `${s.slice(0, n)}… (${s.length} characters)`);

function wireText(out: Outgoing): string {
  if ('text' in out) return out.text;
  if ('fragments' in out) return Buffer.concat(out.fragments).toString('utf8');
  return `<binary ${out.binary.toString('hex').slice(0, 64)}>`;
}

function wireBytes(out: Outgoing): number {
  if ('text' in out) return Buffer.byteLength(out.text);
  if ('fragments' in out) return out.fragments.reduce((n, b) => n + b.length, 0);
  return out.binary.length;
}

/** A raw WebSocket (the client helper keeps a log of every frame, too much for a million) that answered its challenge. */
async function openFuzzSocket(url: string, keys: Keys | undefined, timeoutMs: number): Promise<WebSocket> {
  const ws = new WebSocket(url, { handshakeTimeout: timeoutMs });
  ws.on('error', () => undefined); // the close that follows is what counts
  const challenge = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no AUTH challenge within ${timeoutMs} ms`)), timeoutMs);
    ws.once('message', (data) => {
      clearTimeout(timer);
      const m = JSON.parse(String(data)) as unknown[];
      if (m[0] === 'AUTH' && typeof m[1] === 'string') resolve(m[1]);
      else reject(new Error(`expected the AUTH challenge first, got ${cut(String(data))}`));
    });
    ws.once('close', () => reject(new Error('closed before the challenge')));
  });
  // Half the connections authenticate, half answer with an AUTH that fails: either way the
  // challenge is answered, so no frame waits out the AUTH grace (kp-auth-grace).
  const auth = sign({ kind: KIND.auth, created_at: Math.floor(Date.now() / 1000), tags: [[TAG.relay, url], [TAG.challenge, challenge]], content: '' }, keys ?? newKeys());
  const sent = keys ? auth : { ...auth, sig: '0'.repeat(128) };
  ws.send(JSON.stringify(['AUTH', sent]));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no OK for the AUTH within ${timeoutMs} ms`)), timeoutMs);
    ws.once('message', (data) => {
      clearTimeout(timer);
      const m = JSON.parse(String(data)) as unknown[];
      if (m[0] === 'OK' && m[1] === sent.id && m[2] === (keys !== undefined)) resolve();
      else reject(new Error(`unexpected answer to the AUTH: ${cut(String(data))}`));
    });
  });
  return ws;
}

/**
 * One fuzzing connection: each frame, then its marker; the answers that come
 * before the marker's CLOSED are that frame's. Binary frames are answered as
 * they arrive, ahead of the text frames queued before them, so a connection
 * that sends them waits for each marker before the next frame (`lockstep`).
 */
class FuzzLine {
  private readonly waiting: { frame: FuzzFrame; marker: string; answers: string[] }[] = [];
  private wake: (() => void) | undefined;
  private seq = 0;
  closed: string | undefined;

  constructor(
    private readonly ws: WebSocket,
    private readonly name: string,
    private readonly judge: (frame: FuzzFrame, answers: string[]) => void,
    private readonly stray: (problem: string, answer: string) => void,
  ) {
    ws.on('message', (data) => this.onAnswer(String(data)));
    ws.on('close', (code, why) => {
      this.closed = `code ${code} ${why.toString()}`;
      this.wake?.();
    });
  }

  private onAnswer(text: string): void {
    let m: unknown;
    try {
      m = JSON.parse(text);
    } catch {
      m = undefined;
    }
    const head = this.waiting[0];
    if (Array.isArray(m) && m[0] === 'CLOSED' && typeof m[1] === 'string' && m[1].startsWith(MARKER)) {
      if (head?.marker !== m[1]) {
        this.stray(`a marker's CLOSED out of order (${head?.marker ?? 'nothing'} was next)`, text);
        return;
      }
      this.waiting.shift();
      this.judge(head.frame, head.answers);
      this.wake?.();
    } else if (head) head.answers.push(text);
    else this.stray('an answer when no frame was waiting for one', text);
  }

  send(frame: FuzzFrame): number {
    const marker = `${MARKER}${this.name}.${this.seq++}`;
    this.waiting.push({ frame, marker, answers: [] });
    const { out } = frame;
    if ('text' in out) this.ws.send(out.text);
    else if ('binary' in out) this.ws.send(out.binary, { binary: true });
    else out.fragments.forEach((part, i) => this.ws.send(part, { binary: false, fin: i === out.fragments.length - 1 }));
    this.ws.send(JSON.stringify(['REQ', marker, null]));
    return wireBytes(out);
  }

  /** Waits until at most `inFlight` frames are unanswered; false when the connection closed or `ms` passed without an answer. */
  async drain(inFlight: number, ms: number): Promise<boolean> {
    while (this.waiting.length > inFlight) {
      if (this.closed) return false;
      const answered = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), ms);
        this.wake = () => {
          clearTimeout(timer);
          resolve(true);
        };
      });
      if (!answered) return false;
    }
    return true;
  }

  /** What is still unanswered, for the report. */
  unanswered(): FuzzFrame[] {
    return this.waiting.map((w) => w.frame);
  }

  close(): void {
    this.ws.terminate();
  }
}

/** Sends `data` as a text frame on a fresh connection and reports how the connection ended (bounded by `ms`). */
async function closeCodeFor(url: string, data: Buffer | string, ms: number): Promise<number | string> {
  const ws = new WebSocket(url, { handshakeTimeout: ms });
  ws.on('error', () => undefined);
  try {
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('close', () => reject(new Error('closed before it opened')));
    });
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    ws.send(data, { binary: false });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<string>((resolve) => (timer = setTimeout(() => resolve(`still open after ${ms} ms`), ms)));
    const outcome = await Promise.race([closed, timeout]);
    clearTimeout(timer);
    return outcome;
  } catch (err) {
    return (err as Error).message;
  } finally {
    ws.terminate();
  }
}

/** The well-behaved client on its own worker thread (bench/fuzz-watcher.ts). */
class Watcher {
  private constructor(private readonly worker: Worker) {}

  static async start(url: string, timeoutMs: number): Promise<Watcher> {
    const worker = new Worker(workerScript(import.meta.url, 'bench', 'fuzz-watcher.js', "the fuzz bench's well-behaved client"), { workerData: { url, timeoutMs } });
    await new Promise<void>((resolve, reject) => {
      worker.once('message', () => resolve());
      worker.once('error', reject);
    });
    return new Watcher(worker);
  }

  /** Round trips: `quiet` of them, or (`watch`) until stop(). */
  ask(ask: Exclude<WatcherAsk, 'stop' | 'close'>): Promise<{ rtts: number[]; failures: string[] }> {
    const answered = new Promise<{ rtts: number[]; failures: string[] }>((resolve, reject) => {
      this.worker.once('message', (answer: WatcherAnswer) => resolve('rtts' in answer ? answer : { rtts: [], failures: ['no round trips'] }));
      this.worker.once('error', reject);
    });
    this.worker.postMessage(ask);
    return answered;
  }

  stop(): void {
    this.worker.postMessage('stop' satisfies WatcherAsk);
  }

  /** Closes its socket and ends; a worker that has not ended within `ms` is terminated. */
  async close(ms = 5_000): Promise<void> {
    const exited = new Promise((resolve) => this.worker.once('exit', resolve));
    this.worker.postMessage('close' satisfies WatcherAsk);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), ms)));
    if ((await Promise.race([exited, late])) === 'late') await this.worker.terminate();
    clearTimeout(timer);
  }
}

/**
 * Fuzzes the relay in `relay` (a child process: its RSS is read from /proc)
 * and reports; asserts nothing. `relay` is left running.
 */
export async function runFuzz(relay: RelayProcess, opts: FuzzOptions): Promise<FuzzReport> {
  const pid = relay.child.pid!;
  const httpUrl = relay.url.replace(/^ws/, 'http');
  const info = (await (await fetch(httpUrl, { headers: { Accept: 'application/nostr+json' } })).json()) as RelayInformation;
  const maxMessageLength = info.limitation?.max_message_length ?? 128 * 1024;
  const ctx = await fuzzContext(maxMessageLength, relay.url);

  const mismatches: Mismatch[] = [];
  let mismatchCount = 0;
  const mismatchKinds: Record<string, number> = {};
  const noticeWhereIdReadable: Record<string, number> = {};
  const byGenerator: Record<string, number> = {};
  const record = (m: Mismatch): void => {
    mismatchCount++;
    const kind = `${m.what}: ${m.problem}`;
    mismatchKinds[kind] = (mismatchKinds[kind] ?? 0) + 1;
    if (mismatches.length < 100) mismatches.push(m);
  };
  const judge = (frame: FuzzFrame, answers: string[]): void => {
    byGenerator[frame.what] = (byGenerator[frame.what] ?? 0) + 1;
    const problem = answers.length === 1 ? refusalProblem(frame, safeParse(answers[0]!)) : `${answers.length} answers where one refusal was due`;
    if (problem !== undefined) record({ what: frame.what, frame: cut(wireText(frame.out)), answers: answers.map((a) => cut(a)), problem });
    else if ((frame.ok || frame.closed) && answers[0]!.startsWith('["NOTICE"')) {
      const key = `${frame.what}: NOTICE, not ${frame.ok ? 'OK' : 'CLOSED'}`;
      noticeWhereIdReadable[key] = (noticeWhereIdReadable[key] ?? 0) + 1;
    }
  };
  const stray = (problem: string, answer: string): void => record({ what: 'stray answer', frame: '', answers: [cut(answer)], problem });

  // The well-behaved client: a note, then asking for it by id, one round trip at a time, on its own thread.
  const watcher = await Watcher.start(relay.url, opts.answerTimeoutMs);

  const lines: FuzzLine[] = [];
  for (let i = 0; i < opts.connections; i++) {
    lines.push(new FuzzLine(await openFuzzSocket(relay.url, i % 2 === 0 ? newKeys() : undefined, opts.answerTimeoutMs), `t${i}`, judge, stray));
  }
  const binaryLine = new FuzzLine(await openFuzzSocket(relay.url, newKeys(), opts.answerTimeoutMs), 'b', judge, stray);
  const { rtts: quiet, failures: quietFailures } = await watcher.ask({ quiet: opts.quietSamples });
  if (quietFailures.length > 0) throw new Error(`the well-behaved client failed before fuzzing: ${quietFailures.join('; ')}`);
  const before = memoryOf(pid).rss;

  const started = Date.now();
  const deadline = started + opts.deadlineMs;
  let textFrames = 0;
  let bytes = 0;
  let quarter = NaN;
  /** The text loops are sending; then the side loop sends what is still due, and the watcher stops when it is done. */
  let texting = true;
  const closes = { invalidUtf8With1007: 0, over16MiBWith1009: 0, unexpected: [] as string[] };
  const stuck = (line: FuzzLine): void => {
    for (const frame of line.unanswered()) judge(frame, [`no answer within ${opts.answerTimeoutMs} ms${line.closed ? `; the connection closed (${line.closed})` : ''}`]);
  };

  const perLine = Math.ceil(opts.frames / opts.connections);
  const textLoops = lines.map(async (line, i) => {
    const gen = new FrameFuzzer(opts.seed + i, ctx);
    for (let n = 0; n < perLine && textFrames < opts.frames && Date.now() < deadline; n++) {
      if (!(await line.drain(opts.window - 1, opts.answerTimeoutMs))) return stuck(line);
      bytes += line.send(gen.next());
      textFrames++;
      if (textFrames === Math.floor(opts.frames / 4)) quarter = memoryOf(pid).rss;
      if (textFrames % 100_000 === 0) opts.progress?.(`${textFrames} frames, ${Math.round((Date.now() - started) / 1000)} s, ${mismatchCount} mismatch(es), relay RSS ${Math.round(memoryOf(pid).rss)} MiB`);
    }
    if (!(await line.drain(0, opts.answerTimeoutMs))) stuck(line);
  });
  const side = { binaries: 0, badUtf8: 0, over: 0 };
  const sideLoop = (async () => {
    const gen = new FrameFuzzer(opts.seed + 1000, ctx);
    // Runs until the text loops are done and every side frame due by then went out.
    while (Date.now() < deadline) {
      if (side.binaries < textFrames / opts.binaryEvery) {
        bytes += binaryLine.send(gen.binary());
        side.binaries++;
        if (!(await binaryLine.drain(0, opts.answerTimeoutMs))) return stuck(binaryLine);
      } else if (side.badUtf8 < textFrames / opts.badUtf8Every) {
        const code = await closeCodeFor(relay.url, gen.badUtf8(), opts.answerTimeoutMs);
        side.badUtf8++;
        if (code === 1007) closes.invalidUtf8With1007++;
        else closes.unexpected.push(`invalid UTF-8 text frame: ${code}`);
      } else if (side.over < opts.over16MiB && textFrames >= ((side.over + 1) * opts.frames) / (opts.over16MiB + 1)) {
        const code = await closeCodeFor(relay.url, `["EVENT",{"content":"${'x'.repeat(16 * 1024 * 1024)}"}]`, opts.answerTimeoutMs * 4);
        side.over++;
        bytes += 16 * 1024 * 1024;
        if (code === 1009) closes.over16MiBWith1009++;
        else closes.unexpected.push(`frame over 16 MiB: ${code}`);
      } else if (!texting) break;
      else await new Promise((r) => setTimeout(r, 5)); // nothing due yet: the text loops set the pace
    }
  })();
  const watching = watcher.ask('watch');

  await Promise.all(textLoops);
  texting = false;
  await sideLoop;
  watcher.stop();
  const { rtts: fuzzRtts, failures: watcherFailures } = await watching;
  const seconds = (Date.now() - started) / 1000;

  // Still serving: the process lives, and a new connection's well-formed REQ is answered.
  const alive = relay.child.exitCode === null && relay.child.signalCode === null;
  let servedAtTheEnd = false;
  try {
    const fresh = await Watcher.start(relay.url, opts.answerTimeoutMs);
    try {
      const { rtts, failures } = await fresh.ask({ quiet: 1 });
      servedAtTheEnd = alive && rtts.length === 1;
      watcherFailures.push(...failures.map((f) => `after fuzzing: ${f}`));
    } finally {
      await fresh.close();
    }
  } catch (err) {
    watcherFailures.push(`after fuzzing: ${(err as Error).message}`);
  }
  const mem = alive ? memoryOf(pid) : { rss: NaN, peak: NaN };
  await watcher.close();
  for (const line of [...lines, binaryLine]) line.close();

  return {
    seed: opts.seed,
    textFrames,
    binaryFrames: side.binaries,
    badUtf8Frames: side.badUtf8,
    over16MiBFrames: side.over,
    megabytesSent: round(bytes / 2 ** 20, 1),
    seconds: round(seconds, 1),
    framesPerSecond: Math.round((textFrames + side.binaries) / seconds),
    deadlineHit: Date.now() >= deadline,
    byGenerator,
    mismatches,
    mismatchCount,
    mismatchKinds,
    noticeWhereIdReadable,
    closes,
    rssMiB: { before: round(before, 1), quarter: round(quarter, 1), after: round(mem.rss, 1), peak: round(mem.peak, 1) },
    watcher: {
      quietP50Ms: round(percentile(quiet, 50)),
      quietP99Ms: round(percentile(quiet, 99)),
      fuzzP50Ms: round(percentile(fuzzRtts, 50)),
      fuzzP99Ms: round(percentile(fuzzRtts, 99)),
      p99Ratio: round(percentile(fuzzRtts, 99) / percentile(quiet, 99), 1),
      fuzzSamples: fuzzRtts.length,
      failures: watcherFailures,
    },
    servedAtTheEnd,
  };
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** runFuzz against a fresh `kpsuite relay` on a file database, stopped afterwards. */
async function fuzzFreshRelay(opts: FuzzOptions): Promise<FuzzReport> {
  const dir = mkdtempSync(join(tmpdir(), 'kp-fuzz-'));
  const relay = await spawnBuiltRelay(['--db', join(dir, 'relay.sqlite')]);
  try {
    return await runFuzz(relay, opts);
  } finally {
    await relay.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Two runs: `frames` as fast as six connections with 64 frames in flight each
 * can send them (the relay saturated), then 100,000 paced by two connections
 * with 2 in flight, where the well-behaved client's p99 is measured again:
 * the relay handles each connection's queued frames in turn, so how long a
 * request waits grows with what the others have in flight.
 */
export async function benchFuzz(frames: number, write: boolean) {
  const common = { seed: 20_261_130, deadlineMs: 15 * 60_000, binaryEvery: 100, badUtf8Every: 5000, quietSamples: 2000, answerTimeoutMs: 30_000 };
  const saturated = await fuzzFreshRelay({ ...common, frames, connections: 6, window: 64, over16MiB: 4, progress: (line) => process.stderr.write(`${line}\n`) });
  const paced = await fuzzFreshRelay({ ...common, frames: Math.min(frames, 100_000), connections: 2, window: 2, over16MiB: 0 });
  const result = {
    benchmark: 'kp-robust-bad-input-fuzz',
    when: new Date().toISOString(),
    machine: machine(),
    relay: 'kpsuite relay on a file database, default limits',
    ...saturated,
    paced: { textFrames: paced.textFrames, framesPerSecond: paced.framesPerSecond, mismatchCount: paced.mismatchCount, rssMiB: paced.rssMiB, watcher: paced.watcher },
  };
  if (write) writeResult('fuzz.json', `${JSON.stringify(result, null, 2)}\n`);
  return result;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const i = process.argv.indexOf('--frames');
  const result = await benchFuzz(i >= 0 ? Number(process.argv[i + 1]) : 1_000_000, !process.argv.includes('--no-write'));
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  // The RSS bound of test/robustness/fuzz.test.ts: 128 MiB over the quiet relay's, a few large frames' worth of heap.
  const bounded = result.rssMiB.after - result.rssMiB.before < 128;
  process.exitCode = result.mismatchCount === 0 && result.closes.unexpected.length === 0 && result.servedAtTheEnd && bounded ? 0 : 1;
}
