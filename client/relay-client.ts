/**
 * A small Nostr client for the suites: the shared choreography (connect,
 * authenticate, publish, subscribe, request KeyPackages) and a wire log of
 * every frame, which the reports print so a failure explains itself.
 */
import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import type { Filter, NostrEvent, RelayMessage } from '../protocol/messages.js';
import { KIND, TAG } from '../protocol/profile.js';
import { sign, type Keys } from '../protocol/crypto.js';

export interface WireEntry {
  /** Milliseconds since the client was created. */
  t: number;
  dir: 'sent' | 'received' | 'note';
  frame: string;
}

export interface OkReply {
  ok: boolean;
  message: string;
}

export interface ReqResult {
  events: NostrEvent[];
  /** true when EOSE arrived, the CLOSED message when the relay refused. */
  eose: boolean;
  closed?: string;
}

export interface Delivery {
  subId: string;
  event: NostrEvent;
}

export interface RequestResult extends OkReply {
  /** EVENT frames that arrived between sending the 447 and its OK. */
  deliveries: Delivery[];
}

export class TimeoutError extends Error {
  constructor(what: string, ms: number) {
    super(`timed out after ${ms} ms waiting for ${what}`);
  }
}

/** The relay sent no NIP-42 challenge, so nothing on this connection can authenticate. */
export class NoChallengeError extends TimeoutError {
  constructor(ms: number, when = `none on connect within ${ms} ms`) {
    super('the relay\'s ["AUTH", <challenge>]', ms);
    this.message = `the relay sent no ["AUTH", <challenge>]: ${when}`;
  }
}

/** The relay closed the connection (or it dropped) while the client still needed it. */
export class ConnectionClosedError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    readonly waitingFor?: string,
  ) {
    super(`the relay closed the connection (${closeText(code, reason)})${waitingFor ? ` while the client waited for ${waitingFor}` : ''}`);
  }
}

/** The relay refused the TCP connection (ECONNREFUSED and the like): it is not accepting connections. */
export class RelayUnreachableError extends Error {
  constructor(
    readonly url: string,
    readonly code: string,
    detail: string,
  ) {
    super(`the relay at ${url} does not accept connections (${code}: ${detail})`);
  }
}

/** Connection errors that mean nothing listens there (not a slow or misbehaving relay). */
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH']);

/** "code 1009, \"message too big\"" for reports. */
export function closeText(code: number, reason: string): string {
  return reason === '' ? `code ${code}` : `code ${code}, ${JSON.stringify(reason)}`;
}

interface Waiter {
  match: (m: RelayMessage) => boolean;
  resolve: (m: RelayMessage) => void;
  reject: (err: Error) => void;
  what: string;
}

export interface ClientOptions {
  /** How long to wait for any single reply. */
  timeoutMs?: number;
  /** Shared wire log, so several connections of one test print as one story. */
  log?: WireEntry[];
  /** Label prefixed to this connection's frames in a shared log. */
  label?: string;
  /** Time origin of `WireEntry.t` (ms since epoch), shared by the connections of one log. */
  epochMs?: number;
  /** How long to wait for the AUTH challenge on connect (default: timeoutMs); 0 when the relay is known to send none then. */
  challengeTimeoutMs?: number;
  /** Aborting closes the connection and wakes every wait: the end of a test, or of the run. */
  signal?: AbortSignal;
  /** Called when the relay's side ends the connection without a close frame (code 1006): it may have gone down. */
  onDrop?: () => void;
  /** Called with the log entry of each received frame a wait takes (`next`, `req`, `quietFor` …): what the test goes on to judge. */
  onTake?: (entry: WireEntry) => void;
}

/** The wire-log entry each parsed message (and each EVENT's event) came in, so a verdict can point at its frame. */
const entryOfFrame = new WeakMap<object, WireEntry>();

/** The wire-log entry a received message, or the event of an EVENT message, arrived in. */
export function wireEntryOf(received: object): WireEntry | undefined {
  return entryOfFrame.get(received);
}

let subCounter = 0;
/** Subscription ids carry a per-run counter so they can be found in relay logs. */
export function newSubId(hint = 'sub'): string {
  subCounter += 1;
  return `${hint}-${subCounter}-${Math.random().toString(36).slice(2, 8)}`;
}

export class RelayClient {
  readonly log: WireEntry[];
  readonly received: RelayMessage[] = [];
  /** The NIP-42 challenge the relay sent, once it has. */
  challenge: string | undefined;
  readonly authenticated = new Set<string>();
  private readonly waiters: Waiter[] = [];
  private readonly started: number;
  private readonly timeoutMs: number;
  private readonly challengeTimeoutMs: number;
  private readonly label: string;
  private closedPromise: Promise<void>;
  /** Set once the connection is closed: the code and reason every later wait reports. */
  private closeInfo: { code: number; reason: string } | undefined;
  /** This side asked for the close (close() or abort()), so a 1006 is ours, not the relay's. */
  private closing = false;
  private readonly onDrop: (() => void) | undefined;
  private readonly onTake: ((entry: WireEntry) => void) | undefined;
  /** The log entry of the last received frame a wait took on this connection. */
  lastTakenEntry: WireEntry | undefined;

  private constructor(
    readonly url: string,
    private readonly ws: WebSocket,
    opts: ClientOptions,
  ) {
    this.log = opts.log ?? [];
    this.started = opts.epochMs ?? Date.now();
    this.timeoutMs = opts.timeoutMs ?? 5000;
    this.challengeTimeoutMs = opts.challengeTimeoutMs ?? this.timeoutMs;
    this.label = opts.label ? `${opts.label} ` : '';
    this.onDrop = opts.onDrop;
    this.onTake = opts.onTake;
    ws.on('message', (data) => this.onFrame(data.toString()));
    // Without a listener a late socket error would crash the process; the close that follows is what waits report.
    ws.on('error', (err) => this.note(`socket error: ${err.message}`));
    this.closedPromise = new Promise((resolve) =>
      ws.once('close', (code, reason) => {
        this.onClose(code, reason.toString());
        resolve();
      }),
    );
  }

  static async connect(url: string, opts: ClientOptions = {}): Promise<RelayClient> {
    const timeoutMs = opts.timeoutMs ?? 5000;
    if (opts.signal?.aborted) throw new Error(`not connecting to ${url}: ${abortText(opts.signal)}`);
    const ws = new WebSocket(url, { handshakeTimeout: timeoutMs });
    const client = new RelayClient(url, ws, opts);
    const onAbort = (): void => client.abort(abortText(opts.signal));
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', (err) => reject(err));
        // A handshake cut short by an abort or a close never emits error.
        void client.closedPromise.then(() => reject(new Error(`the connection to ${url} closed before it opened${client.closeInfo ? ` (${closeText(client.closeInfo.code, client.closeInfo.reason)})` : ''}`)));
      });
    } catch (err) {
      opts.signal?.removeEventListener('abort', onAbort);
      ws.terminate();
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== undefined && UNREACHABLE_CODES.has(code)) throw new RelayUnreachableError(url, code, (err as Error).message);
      throw err;
    }
    void client.closedPromise.then(() => opts.signal?.removeEventListener('abort', onAbort));
    client.note(`connected to ${url}`);
    return client;
  }

  /** Ends the connection at once (the test or the run is over) and wakes every wait. */
  abort(why: string): void {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    this.note(`closing: ${why}`);
    this.closing = true;
    this.ws.terminate();
  }

  private onClose(code: number, reason: string): void {
    this.closeInfo = { code, reason };
    this.note(`connection closed (${closeText(code, reason)})`);
    if (code === 1006 && !this.closing) this.onDrop?.();
    for (const waiter of this.waiters.splice(0)) waiter.reject(new ConnectionClosedError(code, reason, waiter.what));
  }

  /** The close code and reason, once the connection is closed. */
  get closedWith(): { code: number; reason: string } | undefined {
    return this.closeInfo;
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  note(text: string): void {
    this.log.push({ t: Date.now() - this.started, dir: 'note', frame: `${this.label}${text}` });
  }

  sendRaw(text: string): void {
    this.log.push({ t: Date.now() - this.started, dir: 'sent', frame: `${this.label}${loggable(text)}` });
    this.ws.send(text);
  }

  send(message: unknown[]): void {
    this.sendRaw(JSON.stringify(message));
  }

  /** The next not-yet-taken message that matches, or a TimeoutError. */
  next(match: (m: RelayMessage) => boolean, what: string, timeoutMs = this.timeoutMs): Promise<RelayMessage> {
    const idx = this.backlog.findIndex(match);
    if (idx >= 0) return Promise.resolve(this.took(this.backlog.splice(idx, 1)[0] as RelayMessage));
    // Nothing more can arrive on a closed connection: say so rather than time out as if the relay were silent.
    if (this.closeInfo) return Promise.reject(new ConnectionClosedError(this.closeInfo.code, this.closeInfo.reason, what));
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        match,
        what,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new TimeoutError(what, timeoutMs));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  /** Messages not yet taken by `next`, in arrival order. */
  private readonly backlog: RelayMessage[] = [];

  /** Remembers which frame the test was handed, so a failing verdict can point at it. */
  private took(message: RelayMessage): RelayMessage {
    const entry = entryOfFrame.get(message);
    if (entry) {
      this.lastTakenEntry = entry;
      this.onTake?.(entry);
    }
    return message;
  }

  private onFrame(text: string): void {
    const entry: WireEntry = { t: Date.now() - this.started, dir: 'received', frame: `${this.label}${loggable(text)}` };
    this.log.push(entry);
    let message: RelayMessage;
    try {
      message = JSON.parse(text) as RelayMessage;
    } catch {
      this.note('frame above is not JSON');
      return;
    }
    if (!Array.isArray(message)) return;
    entryOfFrame.set(message, entry);
    const event: unknown = message[0] === 'EVENT' ? message[2] : undefined;
    if (typeof event === 'object' && event !== null) entryOfFrame.set(event, entry);
    this.received.push(message);
    if (message[0] === 'AUTH' && typeof message[1] === 'string') this.challenge = message[1];
    const i = this.waiters.findIndex((w) => w.match(message));
    if (i >= 0) {
      const [waiter] = this.waiters.splice(i, 1);
      waiter?.resolve(this.took(message));
    } else {
      this.backlog.push(message);
    }
  }

  /** Waits for the relay's NIP-42 challenge without asking for anything (the one sent on connect). */
  async waitForChallenge(timeoutMs = this.challengeTimeoutMs): Promise<string> {
    if (this.challenge !== undefined) return this.challenge;
    try {
      const m = await this.next((x) => x[0] === 'AUTH' && typeof x[1] === 'string', 'the AUTH challenge', timeoutMs);
      return m[1] as string;
    } catch (err) {
      throw err instanceof TimeoutError ? new NoChallengeError(timeoutMs) : err;
    }
  }

  /**
   * The connection's challenge: the one sent on connect, or else the one a
   * relay with lazy AUTH sends with its first auth-required: refusal (NIP-42
   * allows both), provoked by a REQ that needs AUTH: KeyPackages of a fresh
   * pubkey, which nobody has, so nothing is handed out or charged.
   */
  async obtainChallenge(): Promise<string> {
    if (this.challenge !== undefined) return this.challenge;
    try {
      return await this.waitForChallenge();
    } catch (err) {
      if (!(err instanceof NoChallengeError)) throw err;
    }
    const sub = newSubId('auth-probe');
    this.note('no challenge yet: asking for something that needs AUTH, so a relay with lazy AUTH sends one');
    this.send(['REQ', sub, { kinds: [KIND.keyPackage], authors: [randomPubkey()], limit: 1 }]);
    // NIP-42: the challenge comes "immediately before the CLOSED", so it is here once the REQ is answered.
    const end = await this.next((m) => (m[0] === 'EOSE' || m[0] === 'CLOSED') && m[1] === sub, `EOSE or CLOSED for ${sub}`);
    if (end[0] === 'EOSE') this.closeSub(sub);
    if (this.challenge !== undefined) return this.challenge;
    // No sub id in the text: runs group untested tests by this reason.
    const answer = end[0] === 'CLOSED' ? `["CLOSED", <sub>, ${JSON.stringify(end[2])}]` : 'EOSE';
    throw new NoChallengeError(this.timeoutMs, `neither on connect nor with its answer (${answer}) to a REQ for KeyPackages that needs AUTH`);
  }

  private okFor(id: string, what: string): Promise<OkReply> {
    return this.next((m) => m[0] === 'OK' && m[1] === id, what).then((m) => ({
      ok: m[2] === true,
      message: typeof m[3] === 'string' ? m[3] : '',
    }));
  }

  /** Sends a signed event and waits for its OK; `meanwhile` runs after sending and before the wait. */
  async publish(event: NostrEvent, meanwhile?: () => Promise<unknown>): Promise<OkReply> {
    this.send(['EVENT', event]);
    await meanwhile?.();
    return this.okFor(event.id, `OK for event ${event.id.slice(0, 8)} (kind ${event.kind})`);
  }

  /** Answers the relay's challenge as `keys` (NIP-42). `tweak` lets a test break the event. */
  async auth(keys: Keys, tweak: (t: AuthTemplate) => AuthTemplate = (t) => t): Promise<OkReply> {
    const challenge = await this.obtainChallenge();
    const template = tweak({
      kind: KIND.auth,
      created_at: Math.floor(Date.now() / 1000),
      tags: [
        [TAG.relay, this.url],
        [TAG.challenge, challenge],
      ],
      content: '',
    });
    return this.sendAuth(sign(template, keys));
  }

  /** Sends a ready-made AUTH event (tests that break it build their own) and waits for its OK. */
  async sendAuth(event: NostrEvent): Promise<OkReply> {
    this.send(['AUTH', event]);
    const reply = await this.okFor(event.id, `OK for AUTH ${event.id.slice(0, 8)}`);
    if (reply.ok) this.authenticated.add(event.pubkey);
    return reply;
  }

  /** Opens a subscription and collects its stored events until EOSE or CLOSED. */
  async req(filters: Filter[], subId = newSubId()): Promise<ReqResult & { subId: string }> {
    this.send(['REQ', subId, ...filters]);
    return this.collect(subId);
  }

  /** The answer to a REQ already sent: its events until EOSE or CLOSED, each wait up to `timeoutMs`. */
  async collect(subId: string, timeoutMs = this.timeoutMs): Promise<ReqResult & { subId: string }> {
    const events: NostrEvent[] = [];
    for (;;) {
      const m = await this.next(
        (x) => (x[0] === 'EVENT' || x[0] === 'EOSE' || x[0] === 'CLOSED') && x[1] === subId,
        `EOSE or CLOSED for ${subId}`,
        timeoutMs,
      );
      if (m[0] === 'EVENT') events.push(m[2]);
      else if (m[0] === 'EOSE') return { subId, events, eose: true };
      else return { subId, events, eose: false, closed: m[2] as string };
    }
  }

  /** Closes a subscription (NIP-01 CLOSE; the relay sends nothing back). */
  closeSub(subId: string): void {
    this.send(['CLOSE', subId]);
  }

  /**
   * Sends a kind 447 KeyPackage request signed by `keys` and waits for its OK;
   * the deliveries are the EVENT frames that arrived before that OK.
   */
  async requestKeyPackages(keys: Keys, owner: string, n?: number, extraTags: string[][] = []): Promise<RequestResult> {
    const tags = [[TAG.pubkey, owner], ...(n === undefined ? [] : [[TAG.count, String(n)]]), ...extraTags];
    const event = sign({ kind: KIND.keyPackageRequest, created_at: nowSeconds(), tags, content: '' }, keys);
    return this.sendRequest(event);
  }

  /**
   * Sends an already-signed 447 (tests that break its form use this). `meanwhile`
   * runs after sending and before waiting for the OK (kp-auth-grace: AUTH after the request).
   */
  async sendRequest(event: NostrEvent, meanwhile?: () => Promise<unknown>): Promise<RequestResult> {
    const mark = this.received.length;
    const reply = await this.publish(event, meanwhile);
    const okIndex = this.received.findIndex((m, i) => i >= mark && m[0] === 'OK' && m[1] === event.id);
    const deliveries: Delivery[] = [];
    for (const m of this.received.slice(mark, okIndex)) {
      if (m[0] === 'EVENT') deliveries.push({ subId: m[1], event: m[2] });
    }
    this.takeFromBacklog((m) => m[0] === 'EVENT' && deliveries.some((d) => d.subId === m[1] && d.event.id === m[2].id));
    return { ...reply, deliveries };
  }

  /** EVENT frames for `subId` that arrived and were not taken yet (live events). */
  drainEvents(subId: string): NostrEvent[] {
    return this.takeFromBacklog((m) => m[0] === 'EVENT' && m[1] === subId).map((m) => m[2] as NostrEvent);
  }

  /** Waits `ms` and returns the frames that arrived and were not taken meanwhile. */
  async quietFor(ms: number): Promise<RelayMessage[]> {
    this.note(`waiting ${ms} ms for anything more`);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([new Promise((r) => (timer = setTimeout(r, ms))), this.closedPromise]);
    clearTimeout(timer);
    // A closed connection is not a quiet relay: nothing could have arrived.
    if (this.closeInfo) throw new ConnectionClosedError(this.closeInfo.code, this.closeInfo.reason, `anything more within ${ms} ms`);
    return this.takeFromBacklog(() => true);
  }

  private takeFromBacklog(match: (m: RelayMessage) => boolean): RelayMessage[] {
    const taken: RelayMessage[] = [];
    for (let i = 0; i < this.backlog.length; ) {
      const m = this.backlog[i] as RelayMessage;
      if (match(m)) {
        taken.push(this.took(m));
        this.backlog.splice(i, 1);
      } else i++;
    }
    return taken;
  }

  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    this.closing = true;
    this.ws.close();
    let timer: NodeJS.Timeout | undefined;
    const closedInTime = await Promise.race([this.closedPromise.then(() => true), new Promise<false>((r) => (timer = setTimeout(() => r(false), 1000)))]);
    clearTimeout(timer);
    // A relay that never completes the closing handshake must not keep the process alive.
    if (!closedInTime) this.ws.terminate();
  }

  /** Resolves when the relay closes the connection. */
  get closed(): Promise<void> {
    return this.closedPromise;
  }
}

export interface AuthTemplate {
  kind: number;
  created_at: number;
  tags: string[][];
  content: string;
}

/** Frames past this size are cut in the wire log (not on the wire), so reports stay readable. */
const MAX_LOGGED_FRAME = 4096;

function loggable(text: string): string {
  return text.length <= MAX_LOGGED_FRAME ? text : `${text.slice(0, MAX_LOGGED_FRAME)}… (${text.length} characters in all)`;
}

function abortText(signal: AbortSignal | undefined): string {
  const reason: unknown = signal?.reason;
  return reason instanceof Error ? reason.message : typeof reason === 'string' ? reason : 'aborted';
}

/** A pubkey-shaped random hex string: nobody's key, so nobody's KeyPackages. */
function randomPubkey(): string {
  return randomBytes(32).toString('hex');
}

export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}
