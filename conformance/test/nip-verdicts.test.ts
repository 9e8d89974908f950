/**
 * Generic NIP tests accept everything the NIP allows. Against a stand-in relay
 * that behaves as real relays do (strfry: `ERROR: bad req: ...` refusals, event
 * keys sorted alphabetically; no NIP-11 document at all): prefixes are read
 * case-insensitively and only the standard lowercase words are a SHOULD,
 * events compare by their fields, and CORS is judged only on a served document.
 * Against one that answers as @nostr-relay's README server does (a NOTICE for a
 * REQ it refuses, no NIP-42): the NOTICE-only refusal fails NIP-01's CLOSED
 * rule, and NIP-09 is checked without AUTH.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { standInRelay, type MisbehavingRelay } from '../../test/support/misbehaving-relays.js';
import { prepareRun } from '../check.js';
import { runSuite } from '../runner.js';
import { nip01Tests } from '../cases/nip01.js';
import { nip11Tests } from '../cases/nip11.js';
import { deletionExpiryTests } from '../cases/deletion-expiry.js';
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

async function outcomes(ids: string[], at = url): Promise<Record<string, TestRecord>> {
  const { runOptions } = await prepareRun(at, { timeoutMs: 500, quietMs: 100, limits: {} });
  const tests = [...nip01Tests, ...nip11Tests, ...deletionExpiryTests].filter((t) => ids.includes(t.id));
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

/**
 * A relay without NIP-42 (it never sends AUTH) that stores events, honours its
 * authors' kind 5 (NIP-09) and answers REQs it will not serve with a NOTICE
 * only, as @nostr-relay's README server does: `refuse` says which.
 */
async function noticeRelay(refuse: (sub: string, filter: { kinds?: unknown }) => boolean): Promise<MisbehavingRelay> {
  let stored: NostrEvent[] = [];
  return standInRelay({
    http: (_, res) => res.writeHead(426).end('upgrade required'),
    onMessage: (ws, message) => {
      const m = message as [string, ...unknown[]];
      if (m[0] === 'EVENT') {
        const e = m[1] as NostrEvent;
        const problem = eventProblem(e);
        if (problem === undefined && e.kind === 5) {
          const named = e.tags.filter((tag) => tag[0] === 'e').map((tag) => tag[1]);
          stored = stored.filter((x) => !(named.includes(x.id) && x.pubkey === e.pubkey));
        }
        if (problem === undefined) stored.push(e);
        ws.send(JSON.stringify(['OK', e.id, problem === undefined, problem === undefined ? '' : `invalid: ${problem}`]));
      } else if (m[0] === 'REQ') {
        const [, sub, filter] = m as [string, string, { ids?: string[]; kinds?: unknown }];
        if (refuse(sub, filter)) return void ws.send(JSON.stringify(['NOTICE', 'invalid: could not parse the REQ']));
        for (const e of stored.filter((x) => filter.ids?.includes(x.id))) ws.send(JSON.stringify(['EVENT', sub, e]));
        ws.send(JSON.stringify(['EOSE', sub]));
      }
    },
  });
}

describe('nip-01/closed-prefix judges a REQ refused with NOTICE and no CLOSED (NIP-01: CLOSED "MUST be sent ... when the relay refuses to fulfill it")', () => {
  it('fails a relay that refuses {"kinds":"x"} with a NOTICE only, resting on that NOTICE and the wait after it', async () => {
    const notices = await noticeRelay((_, filter) => filter.kinds !== undefined && !Array.isArray(filter.kinds));
    try {
      const r = (await outcomes(['nip-01/closed-prefix'], notices.url))['nip-01/closed-prefix']!;
      expect(r.outcome, r.message).toBe('fail');
      expect(r.message).toMatch(/^the REQ \{"kinds":"x"\} was refused with \["NOTICE","invalid: could not parse the REQ"\] and no CLOSED followed within 500 ms/);
      expect(r.observed).toMatch(/then neither CLOSED nor EOSE for bad-filter-/);
      const decisive = r.wire.filter((w) => w.decisive);
      expect(decisive.map((w) => [w.frame, w.quietAfterMs])).toEqual([['client ["NOTICE","invalid: could not parse the REQ"]', 500]]);
    } finally {
      await notices.close();
    }
  });

  it('leaves it untested, saying what the relay did, when only a subscription id longer than NIP-01 allows gets a NOTICE', async () => {
    const notices = await noticeRelay((sub) => sub.length > 64);
    try {
      const r = (await outcomes(['nip-01/closed-prefix'], notices.url))['nip-01/closed-prefix']!;
      expect(r.outcome, r.message).toBe('untested');
      expect(r.message).toMatch(/refused none of the probe REQs with CLOSED/);
      expect(r.message).toMatch(/served the REQ \{"kinds":"x"\} \(EOSE\)/);
      expect(r.message).toMatch(/answered the REQ \{"kinds":\[1\],"limit":1\} with a \d+-character subscription id with \["NOTICE",.*not judged/);
    } finally {
      await notices.close();
    }
  });
});

describe('nip-09/owner-deletes-note needs no NIP-42', () => {
  it('passes on a relay that never sends AUTH and deletes its authors\' notes, without sending AUTH', async () => {
    const relay = await noticeRelay(() => false);
    try {
      const r = (await outcomes(['nip-09/owner-deletes-note'], relay.url))['nip-09/owner-deletes-note']!;
      expect(r.outcome, r.message).toBe('pass');
      expect(r.wire.filter((w) => w.dir === 'sent' && / \["AUTH",/.test(w.frame))).toEqual([]);
    } finally {
      await relay.close();
    }
  });
});
