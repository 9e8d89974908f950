/** A verification worker thread (WorkerVerifier): answers each check with its result, in the order asked. */
import { parentPort } from 'node:worker_threads';
import { IN_THREAD } from './verifier.js';
import type { VerifyAnswer, VerifyAsk } from './worker-verifier.js';

const port = parentPort;
if (!port) throw new Error('reference-relay/verify/worker.js runs as a worker thread');

port.on('message', (ask: VerifyAsk) => {
  const check = ask.check === 'event' ? IN_THREAD.eventProblem(ask.event) : IN_THREAD.keyPackageMlsProblem(ask.event as Parameters<typeof IN_THREAD.keyPackageMlsProblem>[0]);
  check.then(
    (problem) => port.postMessage({ id: ask.id, problem } satisfies VerifyAnswer),
    (err: unknown) => port.postMessage({ id: ask.id, error: String(err) } satisfies VerifyAnswer),
  );
});
