/**
 * Generic NIP tests accept everything the NIP allows. Against a stand-in relay
 * that behaves as real relays do (strfry: `ERROR: bad req: ...` refusals, event
 * keys sorted alphabetically; no NIP-11 document at all): prefixes are read
 * case-insensitively and only the standard lowercase words are a SHOULD,
 * events compare by their fields, and CORS is judged only on a served document.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { standInRelay, type MisbehavingRelay } from '../../test/support/misbehaving-relays.js';
import { prepareRun } from '../check.js';
import { runSuite } from '../runner.js';
import { nip01Tests } from '../cases/nip01.js';
import { nip11Tests } from '../cases/nip11.js';
import { eventProblem } from '../../protocol/crypto.js';
import type { NostrEvent } from '../../protocol/messages.js';
import type { TestRecord } from '../../report/schema.js';

let relay: MisbehavingRelay;
let url: string;

/** Keys in alphabetical order, as strfry writes them: NIP-01 fixes no order. */
function sortedKeys(e: NostrEvent): string {
  return JSON.stringify(Object.fromEntries(Object.entries(e).sort(([a], [b]) => a.localeCompare(b))));
}

beforeAll(async () => {
  const stored: NostrEvent[] = [];
  relay = await standInRelay({
    http: (_, res) => res.writeHead(426).end('upgrade required'),
    onMessage: (ws, message) => {
      const m = message as [string, ...unknown[]];
      if (m[0] === 'EVENT') {
        const e = m[1] as NostrEvent;
        const problem = eventProblem(e);
        if (problem === undefined) stored.push(e);
        ws.send(JSON.stringify(['OK', e.id, problem === undefined, problem === undefined ? '' : `ERROR: bad event: ${problem}`]));
      } else if (m[0] === 'REQ') {
        const [, sub, filter] = m as [string, string, { ids?: string[]; kinds?: unknown }];
        if (sub.length > 64) return void ws.send(JSON.stringify(['CLOSED', sub, 'ERROR: bad req: subscription id too long']));
        if (filter.kinds !== undefined && !Array.isArray(filter.kinds)) return void ws.send(JSON.stringify(['CLOSED', sub, 'ERROR: bad req: kinds not an array']));
        for (const e of stored.filter((x) => filter.ids?.includes(x.id))) ws.send(`["EVENT",${JSON.stringify(sub)},${sortedKeys(e)}]`);
        ws.send(JSON.stringify(['EOSE', sub]));
      }
    },
  });
  url = relay.url;
});
afterAll(() => relay.close());

async function outcomes(ids: string[]): Promise<Record<string, TestRecord>> {
  const { runOptions } = await prepareRun(url, { timeoutMs: 500, quietMs: 100, limits: {} });
  const tests = [...nip01Tests, ...nip11Tests].filter((t) => ids.includes(t.id));
  expect(tests.map((t) => t.id).sort()).toEqual([...ids].sort());
  const { records } = await runSuite(tests, runOptions, { only: [], exclude: [] }, 2);
  return Object.fromEntries(records.map((r) => [r.id, r]));
}

describe('NIP tests judge what the NIP says, not what the reference relay does', () => {
  it('reads `ERROR: bad req:` as a machine-readable prefix (MUST passes), and flags the non-standard word only as a SHOULD', async () => {
    const r = await outcomes(['nip-01/closed-prefix', 'nip-01/standard-prefix']);
    expect(r['nip-01/closed-prefix']!.outcome, r['nip-01/closed-prefix']!.message).toBe('pass');
    expect(r['nip-01/standard-prefix']!.outcome).toBe('non-strict');
    expect(r['nip-01/standard-prefix']!.observed).toMatch(/ERROR: bad/);
  });

  it('compares events by their fields, whatever the key order of their JSON', async () => {
    const r = await outcomes(['nip-01/text-note-query']);
    expect(r['nip-01/text-note-query']!.outcome, r['nip-01/text-note-query']!.message).toBe('pass');
  });

  it('leaves nip-11/cors untested when the relay serves no NIP-11 document', async () => {
    const r = await outcomes(['nip-11/cors', 'nip-11/document']);
    expect(r['nip-11/cors']!.outcome).toBe('untested');
    expect(r['nip-11/document']!.outcome).toBe('non-strict');
  });
});
