/** NIP-11: the relay information document, and the profile's `keypackages` limits in it (kp-rate-advertise). */
import { RuleBroken, type TestContext } from '../context.js';
import type { ConformanceTest } from '../types.js';
import { PROFILE_VERSION } from '../../protocol/profile.js';

interface Fetched {
  url: string;
  status: number;
  headers: Headers;
  /** The parsed body, or undefined when it is not JSON. */
  document: unknown;
}

/** The http(s) URL NIP-11 is served on: the WebSocket URL with ws → http, wss → https. */
function httpUrlOf(wsUrl: string): string {
  return wsUrl.replace(/^ws(s?):\/\//i, 'http$1://');
}

/** GETs the document with Accept: application/nostr+json, as a browser client on another origin would. */
async function fetchNip11(t: TestContext): Promise<Fetched> {
  const url = httpUrlOf(t.url);
  t.note(`GET ${url} Accept: application/nostr+json`);
  let res: Response;
  try {
    res = await fetch(url, {
      headers: { Accept: 'application/nostr+json', Origin: 'https://client.example.com' },
      signal: AbortSignal.timeout(t.options.timeoutMs),
    });
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    t.fail(`GET ${url} with Accept: application/nostr+json got no HTTP response (${reason})`, `an HTTP response from ${url}`, reason);
  }
  const text = await res.text();
  t.note(`HTTP ${res.status}: ${text.slice(0, 500)}`);
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    document = undefined;
  }
  return { url, status: res.status, headers: res.headers, document };
}

/** The headers of a browser's CORS preflight for the NIP-11 GET, or undefined when the request fails. */
async function preflightHeaders(t: TestContext, url: string): Promise<Headers | undefined> {
  t.note(`OPTIONS ${url} (CORS preflight)`);
  try {
    const res = await fetch(url, {
      method: 'OPTIONS',
      headers: { Origin: 'https://client.example.com', 'Access-Control-Request-Method': 'GET', 'Access-Control-Request-Headers': 'accept' },
      signal: AbortSignal.timeout(t.options.timeoutMs),
    });
    await res.arrayBuffer();
    t.note(`HTTP ${res.status} to the preflight`);
    return res.headers;
  } catch (err) {
    t.note(`preflight failed: ${err instanceof Error ? err.message : String(err)}`);
    return undefined;
  }
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** The document, or untested when the relay serves none (nip-11/document says so). */
async function documentOf(t: TestContext): Promise<Record<string, unknown>> {
  const { status, document } = await fetchNip11(t);
  if (status !== 200 || !isObject(document)) t.untested(`the relay serves no NIP-11 document (HTTP ${status}); see nip-11/document`);
  return document;
}

const LIMIT_FIELDS = ['max_per_query', 'queries_per_window', 'served_per_window', 'window_seconds'] as const;

export const nip11Tests: ConformanceTest[] = [
  {
    id: 'nip-11/document',
    anchor: 'nip-11',
    section: 'NIP-11',
    level: 'SHOULD',
    requirement:
      'When a relay receives an HTTP(s) request with an Accept header of application/nostr+json to a URI supporting WebSocket upgrades, they SHOULD return a document with the following structure.',
    async run(t: TestContext) {
      const { url, status, document } = await fetchNip11(t);
      t.check(status === 200, `GET ${url} with Accept: application/nostr+json answered HTTP ${status}, not 200 with the document`, 'HTTP 200', `HTTP ${status}`);
      t.check(
        isObject(document),
        `GET ${url} with Accept: application/nostr+json answered HTTP 200 with ${document === undefined ? 'a body that is not JSON' : 'JSON that is not an object'}`,
        'a JSON object',
        document === undefined ? 'a body that is not JSON' : JSON.stringify(document).slice(0, 200),
      );
    },
  },
  {
    id: 'nip-11/cors',
    anchor: 'nip-11',
    section: 'NIP-11',
    level: 'MUST',
    requirement: 'Relays MUST accept CORS requests by sending Access-Control-Allow-Origin, Access-Control-Allow-Headers, and Access-Control-Allow-Methods headers.',
    async run(t: TestContext) {
      // The rule is about serving the document; a relay that serves none is judged by nip-11/document, not here.
      let fetched: Fetched;
      try {
        fetched = await fetchNip11(t);
      } catch (err) {
        if (err instanceof RuleBroken) t.untested(`the relay serves no NIP-11 document (${err.observed ?? err.message}); see nip-11/document`);
        throw err;
      }
      const { url, status, document, headers } = fetched;
      if (status !== 200 || !isObject(document)) t.untested(`the relay serves no NIP-11 document (HTTP ${status}); see nip-11/document`);
      const names = ['Access-Control-Allow-Origin', 'Access-Control-Allow-Headers', 'Access-Control-Allow-Methods'];
      let missing = names.filter((h) => headers.get(h) === null);
      // Allow-Headers and Allow-Methods answer a browser's preflight: sent there, they satisfy the rule too.
      if (missing.some((h) => h !== 'Access-Control-Allow-Origin')) {
        const preflight = await preflightHeaders(t, url);
        missing = missing.filter((h) => h === 'Access-Control-Allow-Origin' || (preflight?.get(h) ?? null) === null);
      }
      t.equal(missing, [], `the NIP-11 response to GET ${url} lacks ${missing.join(', ')} (Allow-Headers and Allow-Methods were looked for in its CORS preflight too)`);
    },
  },
  {
    id: 'kp-rate-advertise/keypackages',
    anchor: 'kp-rate-advertise',
    section: 'NIP-11',
    level: 'SHOULD',
    async run(t: TestContext) {
      const kps = (await documentOf(t)).keypackages;
      if (!isObject(kps)) {
        t.fail(
          kps === undefined ? 'the NIP-11 document has no top-level "keypackages" object' : `the NIP-11 document's "keypackages" is ${JSON.stringify(kps)}, not an object`,
          '"keypackages": {"profile": ..., limits}',
          JSON.stringify(kps) ?? 'absent',
        );
      }
      t.equal(kps.profile, PROFILE_VERSION, `keypackages.profile is ${JSON.stringify(kps.profile) ?? 'absent'}, not ${JSON.stringify(PROFILE_VERSION)}`);
      const bad = LIMIT_FIELDS.filter((f) => {
        const v = kps[f];
        return typeof v !== 'number' || !Number.isInteger(v) || v < 1;
      });
      t.check(
        bad.length === 0,
        `keypackages gives ${bad.map((f) => `${f} ${JSON.stringify(kps[f]) ?? 'absent'}`).join(', ')}: each of ${LIMIT_FIELDS.join(', ')} should be a positive integer`,
        'positive integers',
        bad.map((f) => `${f}: ${JSON.stringify(kps[f]) ?? 'absent'}`).join(', '),
      );
    },
  },
  {
    id: 'nip-11/supported-nips-42',
    anchor: 'nip-11',
    section: 'NIP-11',
    level: 'SHOULD',
    requirement: 'supported_nips: This field is an array of the integer identifiers of NIPs that are implemented in the relay. (A relay of this profile implements NIP-42.)',
    async run(t: TestContext) {
      const nips = (await documentOf(t)).supported_nips;
      t.check(
        Array.isArray(nips) && nips.includes(42),
        `supported_nips is ${JSON.stringify(nips) ?? 'absent'}, without 42: the profile identifies requesters with NIP-42 AUTH`,
        'an array including 42',
        JSON.stringify(nips) ?? 'absent',
      );
    },
  },
];
