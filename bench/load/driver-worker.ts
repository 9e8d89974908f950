/**
 * One driver process for bench/load/driver.ts's stub-relay figures: on the
 * load suite's own Node runtime (load/node/runtime.ts: ws sockets, the
 * nostr-wasm signer) and request code (load/core/nostr.ts: query,
 * request447, as the scenarios use them), it opens CONNECTIONS sockets to
 * the relay, answers AUTH on each, and runs them closed loop for SECONDS:
 * half send KeyPackage REQs (to EOSE), half kind 447 requests on an open
 * inbox (deliveries, then OK). The 447 is signed once per socket and sent
 * again (the stub checks nothing): what is measured is the driver's
 * transport and parsing, as in a run with pre-signed fixtures.
 * Prints one JSON line: counts, and process.cpuUsage() over the loop only.
 *
 * `node dist/bench/load/driver-worker.js <ws-url> <seconds> <connections>`
 */
import { KIND } from '../../protocol/profile.js';
import { authenticate, keyPackageRequest, openInbox, query, request447, subId } from '../../load/core/nostr.js';
import { MetricStore } from '../../load/node/metrics.js';
import { NodeRuntime } from '../../load/node/runtime.js';
import { newKeys, secretHex } from '../../protocol/crypto.js';

export interface WorkerResult {
  reqs: number;
  requests447: number;
  failed: number;
  cpuSeconds: number;
  wallSeconds: number;
}

const [url = '', secondsText = '3', connectionsText = '8'] = process.argv.slice(2);
const seconds = Number(secondsText);
const connections = Number(connectionsText);
const rt = new NodeRuntime(new MetricStore());
const owner = newKeys();
const ownerHex = owner.pubkey;
const socks = await Promise.all(
  Array.from({ length: connections }, async (_, k) => {
    const sock = await rt.connect(url, 10_000);
    const secret = secretHex(newKeys());
    if (!(await authenticate(rt, sock, url, secret, 10_000))) throw new Error('AUTH refused');
    if (k % 2 === 0) return { sock, inbox: undefined, request: undefined };
    const inbox = subId('inbox');
    if (!(await openInbox(sock, inbox, { kinds: [KIND.keyPackage], authors: [ownerHex] }, 10_000))) throw new Error('inbox refused');
    return { sock, inbox, request: keyPackageRequest(rt, secret, ownerHex, 2) };
  }),
);
const result: WorkerResult = { reqs: 0, requests447: 0, failed: 0, cpuSeconds: 0, wallSeconds: 0 };
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const end = t0 + seconds * 1000;
await Promise.all(
  socks.map(async ({ sock, inbox, request }) => {
    while (performance.now() < end) {
      if (inbox === undefined || request === undefined) {
        const r = await query(rt, sock, subId('kp'), [{ kinds: [KIND.keyPackage], authors: [ownerHex], limit: 2 }], 10_000);
        if (r?.events.length === 2) result.reqs += 1;
        else result.failed += 1;
      } else {
        const r = await request447(rt, sock, inbox, request, 10_000);
        if (r?.ok === true && r.deliveries.length === 2) result.requests447 += 1;
        else result.failed += 1;
      }
    }
  }),
);
const cpu = process.cpuUsage(cpu0);
result.wallSeconds = (performance.now() - t0) / 1000;
result.cpuSeconds = (cpu.user + cpu.system) / 1e6;
process.stdout.write(`${JSON.stringify(result)}\n`);
rt.terminateAll();
process.exit(0);
