/**
 * A hand-built ConformanceReport with every outcome, and strings a hostile
 * relay could send: markup in frames and NIP-11, control and bidi characters,
 * backtick runs, a frame far longer than the Markdown report prints.
 */
import type { WireEntry } from '../../client/relay-client.js';
import { OUTCOMES, type Outcome, type RecordedWireEntry, type TestRecord } from '../schema.js';
import { REPORT_SCHEMA, type ConformanceReport } from '../schema.js';

export const HOSTILE = '<script>alert(1)</script>';
export const HOSTILE_FRAME = `["EVENT","kp-3",{"kind":443,"content":"${HOSTILE}","tags":[]}]`;
export const CONTROL_FRAME = '["NOTICE","bell\u0007 nul\u0000 esc\u001b[31m rtl\u202Egnp.exe ffff\uFFFF"]';
export const FENCE_FRAME = '["NOTICE","```\\n# not a heading\\n````"]';
export const LONG_FRAME = `["EVENT","big",{"content":"${'A'.repeat(3000)}"}]`;
export const NIP11_NAME = `<script>alert("nip11")</script>`;
export const NIP11_SOFTWARE = `"><img src=x onerror=alert(2)>`;

const wire = (...frames: [WireEntry['dir'], string][]): WireEntry[] => frames.map(([dir, frame], i) => ({ t: i * 7, dir, frame }));

/** Marks entry `index` as the frame the verdict rests on, as the runner does. */
export function decide(index: number, entries: RecordedWireEntry[], quietAfterMs?: number): RecordedWireEntry[] {
  return entries.map((entry, i) => (i === index ? { ...entry, decisive: true, ...(quietAfterMs === undefined ? {} : { quietAfterMs }) } : entry));
}

type Extra = Partial<Omit<TestRecord, 'id' | 'outcome'>>;

export function record(id: string, outcome: Outcome, extra: Extra = {}): TestRecord {
  return {
    id,
    anchor: id.split('/')[0]!,
    section: 'REQ',
    level: 'MUST',
    requirement: `The relay does what ${id} says.`,
    outcome,
    durationMs: 42,
    wire: [],
    ...extra,
  };
}

export function fixtureTests(): TestRecord[] {
  return [
    record('kp-auth-challenge/send', 'pass', {
      section: 'Identity (NIP-42)',
      wire: wire(['note', 'anon connected to ws://127.0.0.1:7777'], ['received', '["AUTH","challenge-1"]']),
    }),
    record('kp-pub-accept/basic', 'pass', { section: 'Publishing', durationMs: 1234 }),
    record('kp-req-scope/author', 'fail', {
      requirement: 'A REQ for kind 443 MUST name exactly one author; the relay MUST refuse it otherwise.',
      message: 'the relay answered an unscoped REQ with events',
      expected: 'CLOSED "restricted: …"',
      observed: `EVENT ${HOSTILE}`,
      waitedMs: 300,
      durationMs: 512,
      // The verdict rests on the hostile EVENT: reports must mark it without letting it turn into markup.
      wire: decide(
        2,
        wire(
          ['note', 'requester connected'],
          ['sent', '["REQ","kp-3",{"kinds":[443]}]'],
          ['received', HOSTILE_FRAME],
          ['received', CONTROL_FRAME],
          ['received', FENCE_FRAME],
          ['received', LONG_FRAME],
          ['received', '["EOSE","kp-3"]'],
        ),
      ),
    }),
    record('kp-rate-advertise/nip11', 'non-strict', {
      section: 'Rate limits',
      level: 'SHOULD',
      message: 'NIP-11 has no keypackages object',
      expected: 'keypackages: {max_per_query, …}',
      observed: 'no keypackages field',
      wire: wire(['note', 'GET http://127.0.0.1:7777/']),
    }),
    record('nip-11/document', 'info', { section: 'NIP-11', anchor: 'nip-11', level: 'MAY', message: 'the relay serves a NIP-11 document' }),
    record('kp-rate-queries/window', 'untested', {
      section: 'Rate limits',
      message: 'the relay advertises no keypackages limits in NIP-11 and none were given as flags',
    }),
    record('kp-del-owner/kind5', 'skipped', { section: 'Deletion and expiry', durationMs: 0 }),
    record('kp-447-delivery/ok', 'error', {
      section: 'Kind 447 requests',
      message: 'timed out after 5000 ms waiting for OK \u0001 with \uFFFF',
      wire: wire(['sent', '["EVENT",{"kind":447}]']),
    }),
  ];
}

export function summarize(tests: TestRecord[], strict = false): ConformanceReport['summary'] {
  const counts = Object.fromEntries(OUTCOMES.map((o) => [o, tests.filter((t) => t.outcome === o).length])) as Record<Outcome, number>;
  const gates = (t: TestRecord): boolean =>
    t.outcome === 'fail' || (t.outcome === 'error' && t.level === 'MUST') || (strict && t.outcome === 'non-strict');
  const unexpectedFailures = tests.filter((t) => gates(t) && !t.expectedFailure).length;
  return { ...counts, total: tests.length, unexpectedFailures, unexpectedPasses: [], exitCode: unexpectedFailures > 0 ? 1 : 0 };
}

export function fixtureReport(tests: TestRecord[] = fixtureTests(), overrides: { strict?: boolean; startedAt?: string; url?: string } = {}): ConformanceReport {
  const strict = overrides.strict ?? false;
  return {
    schema: REPORT_SCHEMA,
    suite: { name: 'kpsuite', version: '0.1.0' },
    profile: 'kp-relay/0.1',
    relay: {
      url: overrides.url ?? 'ws://127.0.0.1:7777',
      nip11: { name: NIP11_NAME, software: NIP11_SOFTWARE, version: '1.0', description: 'fast & <b>bold</b> ]]> relay' },
    },
    run: {
      startedAt: overrides.startedAt ?? '2026-11-22T22:45:12.345Z',
      durationMs: 2345,
      strict,
      only: [],
      exclude: ['kp-del-*'],
      limitsSource: 'nip11',
      limits: { max_per_query: 2, queries_per_window: 10, served_per_window: 50, window_seconds: 3600 },
      timeoutMs: 5000,
      quietMs: 300,
      expectFailFile: undefined,
    },
    summary: summarize(tests, strict),
    tests,
  };
}
