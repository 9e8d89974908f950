/**
 * groups: a realistic mix. Inviters fetch the KeyPackages of 2–50 members
 * to start a group (one REQ naming them all, or kind 447 per member for
 * small groups); members check their stock as owners and publish more when
 * it runs low; other clients write and read kind 1 notes.
 *
 * Invariants: every invited member yields exactly one KeyPackage of theirs
 * (a member always has at least the last resort: kp-handout-last-resort,
 * kp-handout-max) and nothing else; members' publishes are accepted.
 *
 * Members and all their KeyPackages come from the fixture's set for this
 * run: setup publishes the first INITIAL_KPS of each, and the k-th stock
 * check of a member may publish only from its own slice of the rest (VUs
 * share no memory, so the slice is fixed by the iteration number). A member
 * whose pre-made stock runs out stops replenishing (counted), and its last
 * resort keeps invites complete. Inviters and their 447s are signed at run
 * time: their members are picked at random then. A split test gives each
 * instance its own members (and notes); its inviters invite them only.
 */
import { KIND, PREFIX, type KeyPackageLimits } from '../../protocol/profile.js';
import { keyPackagesOf, setOf, shareOf, type Fixture, type FixtureActor, type FixtureNeeds } from '../core/fixture.js';
import { unitRange, type Instance } from '../core/instance.js';
import { FACT, type Share } from '../core/ledger.js';
import { fetchNip11, settleLimits } from '../core/nip11.js';
import { keyPackageRequest, nowSeconds, openInbox, publish, query, refusalPrefix, request447, subId, TEXT_NOTE_KIND } from '../core/nostr.js';
import type { LoadRuntime, MetricSpec, NostrEvent, Socket } from '../core/runtime.js';
import { LATENCY, OPS_FAILED, RELAY_ACCESS_METRICS, latencyThresholds, workThresholds, type MetricValuesByName, type Plan, type Role, type Scenario } from '../core/scenario.js';
import { duration, int, num, type Settings } from '../core/settings.js';
import { answered, arrivalRate, authedSocket, claimSet, guarded, maxArrivals, needAtLeast, replyTimeout, sample, vusFor, withSocket } from './common.js';

export const GROUP_METRICS = {
  incomplete: { name: 'groups_invites_incomplete', kind: 'counter', help: 'invites where some member did not yield exactly one KeyPackage of theirs (must be 0)' },
  foreign: { name: 'groups_foreign_kp', kind: 'counter', help: 'KeyPackages an inviter got that it did not ask for, or beyond one per member (must be 0)' },
  invites: { name: 'groups_invites', kind: 'counter', help: 'invites started' },
  checked: { name: 'groups_checked', kind: 'counter', help: 'invites whose hand-outs were checked (the work done)' },
  members: { name: 'groups_members_fetched', kind: 'counter', help: 'member KeyPackages fetched' },
  replenished: { name: 'groups_replenished', kind: 'counter', help: 'KeyPackages members published because their stock ran low' },
  // Counters of refusals, not rates of acceptance: a short run may publish nothing, and an empty rate fails.
  kpRefused: { name: 'kp_publish_refused', kind: 'counter', help: 'members’ new KeyPackage EVENTs answered OK false or "duplicate:" (must be 0)' },
  exhausted: { name: 'groups_stock_exhausted', kind: 'counter', help: 'KeyPackages members could not publish: their pre-made stock in the fixture ran out' },
  noteRefused: { name: 'nip01_publish_refused', kind: 'counter', help: 'kind 1 EVENTs answered OK false (must be 0)' },
} as const satisfies Record<string, MetricSpec>;

const G = GROUP_METRICS;

export interface GroupsData {
  url: string;
  share: Share;
  /** This instance's members of the set; each publishes only its own pre-made KeyPackages. */
  members: FixtureActor[];
  /** Largest group an inviter may fetch: 50, or less when the served limit is lower. */
  maxGroup: number;
  /** This instance's notes: the fixture's notes [start, end). */
  notes: [number, number];
}

export interface GroupsKnobs {
  invitesPerSecond: number;
  notesPerSecond: number;
  memberChecksPerSecond: number;
  members: number;
  initial: number;
  lowWater: number;
  refillTo: number;
  p447: number;
}

export function groupsKnobs(s: Settings, defaults: { rate: number }): GroupsKnobs {
  const members = int(s, 'MEMBERS', 60, 2, 10_000);
  const lowWater = int(s, 'LOW_WATER', 2, 1, 100);
  return {
    invitesPerSecond: num(s, 'RATE', defaults.rate, 0.01, 1000),
    notesPerSecond: num(s, 'NOTE_RATE', 5, 0.01, 10_000),
    // Each member looks at its stock about every 10 s.
    memberChecksPerSecond: num(s, 'CHECK_RATE', Math.max(0.2, members / 10), 0.01, 10_000),
    members,
    initial: int(s, 'INITIAL_KPS', 3, 1, 100),
    lowWater,
    refillTo: int(s, 'REFILL_TO', lowWater + 2, lowWater + 1, 200),
    p447: num(s, 'P447', 0.3, 0, 1),
  };
}

/** KeyPackages one stock check may publish: up to REFILL_TO, and a member always keeps its last resort. */
const perCheck = (k: GroupsKnobs): number => k.refillTo - 1;

/**
 * Members with INITIAL_KPS KeyPackages each plus a slice per stock check a
 * run of `ms` can start (capped at `max.keyPackages` in all), and notes.
 */
export function groupsNeeds(k: GroupsKnobs, ms: number, max: { keyPackages: number; notes: number }): FixtureNeeds {
  const checks = Math.ceil(maxArrivals(k.memberChecksPerSecond, ms) / k.members);
  const each = Math.max(k.initial, Math.min(k.initial + checks * perCheck(k), Math.floor(max.keyPackages / k.members)));
  return { owners: k.members, keyPackagesPerOwner: each, requests: [], notes: Math.min(max.notes, Math.ceil((k.notesPerSecond * ms) / 1000)) };
}

/** Group sizes skewed small, as groups are: 2 + 48·u², so half are under 14. */
export function groupSize(max: number): number {
  const u = Math.random();
  return Math.min(max, 2 + Math.floor(48 * u * u));
}

function checkInvite(rt: LoadRuntime, asked: readonly string[], got: readonly NostrEvent[]): boolean {
  const perAuthor = new Map<string, number>();
  let foreign = 0;
  for (const e of got) {
    if (e.kind !== KIND.keyPackage || !asked.includes(e.pubkey)) foreign += 1;
    else perAuthor.set(e.pubkey, (perAuthor.get(e.pubkey) ?? 0) + 1);
  }
  for (const n of perAuthor.values()) if (n > 1) foreign += n - 1;
  rt.add(G.foreign.name, foreign);
  rt.add(G.members.name, perAuthor.size);
  return foreign === 0 && asked.every((pk) => perAuthor.get(pk) === 1);
}

async function inviteBy447(rt: LoadRuntime, sock: Socket, secret: string, picked: string[], timeoutMs: number): Promise<NostrEvent[] | undefined> {
  const inbox = subId('invite-inbox');
  if (!(await openInbox(sock, inbox, { kinds: [KIND.keyPackage], authors: picked }, timeoutMs))) return undefined;
  const got: NostrEvent[] = [];
  for (const member of picked) {
    const res = answered(rt, await request447(rt, sock, inbox, keyPackageRequest(rt, secret, member, 1), timeoutMs));
    if (res === undefined || !res.ok) return undefined;
    rt.add(LATENCY.request447.name, res.ms);
    got.push(...res.deliveries);
  }
  return got;
}

export function groupRoles(s: Settings, fixture: Fixture, k: GroupsKnobs, d: { text: string; ms: number }): Role<GroupsData>[] {
  const timeoutMs = replyTimeout(s);

  const invite = guarded<GroupsData>(async (rt, data) => {
    rt.add(G.invites.name, 1);
    const secret = rt.signer.newSecretKey();
    const sock = await authedSocket(rt, data.url, secret, timeoutMs);
    try {
      const size = groupSize(Math.min(data.maxGroup, data.members.length));
      const picked = sample(data.members, size).map((m) => m.pubkey);
      let got: NostrEvent[] | undefined;
      if (size <= 10 && Math.random() < k.p447) got = await inviteBy447(rt, sock, secret, picked, timeoutMs);
      else {
        // One REQ for the whole group; limit applies per owner (kp-req-handout).
        const res = answered(rt, await query(rt, sock, subId('invite'), [{ kinds: [KIND.keyPackage], authors: picked, limit: 1 }], timeoutMs));
        if (res !== undefined) rt.add(LATENCY.req.name, res.ms);
        if (res?.closed !== undefined) rt.log(`invite of ${size} refused: ${res.closed}`);
        got = res === undefined || res.closed !== undefined ? undefined : res.events;
      }
      const complete = got !== undefined && checkInvite(rt, picked, got);
      if (got !== undefined) rt.add(G.checked.name, 1);
      rt.add(G.incomplete.name, complete ? 0 : 1);
    } finally {
      await sock.close();
    }
  });

  const member = guarded<GroupsData>(async (rt, data, it) => {
    const me = data.members[it.iteration % data.members.length];
    if (me == null) return;
    // This member's check number c publishes only from slice c of its stock after the initial ones.
    const slice = k.initial + Math.floor(it.iteration / data.members.length) * perCheck(k);
    const sock = await authedSocket(rt, data.url, me.secret, timeoutMs);
    try {
      // The owner's own query counts the stock without consuming it (kp-req-owner).
      const res = answered(rt, await query(rt, sock, subId('stock'), [{ kinds: [KIND.keyPackage], authors: [me.pubkey] }], timeoutMs));
      if (res === undefined || res.closed !== undefined) return;
      if (res.events.length >= k.lowWater) return;
      const want = Math.min(k.refillTo - res.events.length, perCheck(k));
      const stock = keyPackagesOf(fixture, me, want, slice);
      rt.add(G.exhausted.name, want - stock.length);
      for (const kp of stock) {
        const reply = answered(rt, await publish(rt, sock, kp, timeoutMs));
        if (reply === undefined) return;
        rt.add(LATENCY.publish.name, reply.ms);
        // Never published before: "duplicate:" would mean two checks shared a slice.
        const fresh = reply.ok && refusalPrefix(reply.message) !== PREFIX.duplicate;
        rt.add(G.kpRefused.name, fresh ? 0 : 1);
        if (fresh) rt.add(G.replenished.name, 1);
        else rt.log(`member publish refused: ${reply.message}`);
      }
    } finally {
      await sock.close();
    }
  });

  const chat = guarded<GroupsData>(async (rt, data, it) => {
    await withSocket(rt, data.url, timeoutMs, async (sock) => {
      const [start, end] = data.notes;
      const note =
        (end > start ? fixture.notes[start + (it.iteration % (end - start))] : undefined) ??
        rt.signer.sign({ kind: TEXT_NOTE_KIND, created_at: nowSeconds(), tags: [], content: `load note ${it.iteration}` }, rt.signer.newSecretKey());
      const reply = answered(rt, await publish(rt, sock, note, timeoutMs));
      if (reply === undefined) return;
      rt.add(LATENCY.notePublish.name, reply.ms);
      rt.add(G.noteRefused.name, reply.ok ? 0 : 1);
      if (!reply.ok) rt.log(`note refused: ${reply.message}`);
      const res = answered(rt, await query(rt, sock, subId('feed'), [{ kinds: [TEXT_NOTE_KIND], limit: 20 }], timeoutMs));
      if (res !== undefined) rt.add(LATENCY.noteReq.name, res.ms);
    });
  });

  const rate = (name: string, perSecond: number, run: Role<GroupsData>['run'], iterSeconds: number): Role<GroupsData> => ({
    name,
    executor: { executor: 'constant-arrival-rate', ...arrivalRate(perSecond), duration: d.text, ...vusFor(perSecond, iterSeconds) },
    durationMs: d.ms,
    run,
  });
  return [rate('inviters', k.invitesPerSecond, invite, 2), rate('members', k.memberChecksPerSecond, member, 1), rate('chatters', k.notesPerSecond, chat, 1)];
}

/** Publishes the first `initial` KeyPackages of each of this instance's members of the fixture's first set this relay has not seen. */
export async function setupGroups(rt: LoadRuntime, s: Settings, k: GroupsKnobs, fixture: Fixture, limits: KeyPackageLimits | undefined, instance: Instance): Promise<GroupsData> {
  const timeoutMs = replyTimeout(s);
  const [a, b] = shareOf(k.members, 'members (MEMBERS)', instance);
  needAtLeast(setOf(fixture.owners, fixture.sets, 0).length, k.members, 'members');
  needAtLeast(setOf(fixture.owners, fixture.sets, 0)[0]?.count ?? 0, k.initial, 'KeyPackages per member');
  const membersOf = (set: number): FixtureActor[] => setOf(fixture.owners, fixture.sets, set).slice(a, b);
  const initial = (set: number): NostrEvent[] => membersOf(set).flatMap((m) => keyPackagesOf(fixture, m, k.initial));
  const set = await withSocket(rt, s.url, timeoutMs, (sock) => claimSet(rt, sock, fixture, initial, timeoutMs));
  const members = membersOf(set);
  // An inviter is one requester: a group larger than its served limit would be refused whole.
  const maxGroup = Math.max(2, Math.min(50, limits?.served_per_window ?? 50));
  return { url: s.url, share: { instance, fixture: fixture.createdAt, set }, members, maxGroup, notes: unitRange(fixture.notes.length, instance) };
}

/** What a groups (or soak) instance took: its members and notes. */
export function groupsFacts(data: GroupsData): string[] {
  return [...FACT.share(data.share), ...data.members.map((m) => FACT.owner(m.pubkey)), FACT.range('notes', data.notes[0], data.notes[1])];
}

export const GROUP_METRIC_LIST: MetricSpec[] = [
  G.incomplete,
  G.foreign,
  G.invites,
  G.checked,
  G.members,
  G.replenished,
  G.kpRefused,
  G.exhausted,
  G.noteRefused,
  LATENCY.req,
  LATENCY.request447,
  LATENCY.publish,
  LATENCY.notePublish,
  LATENCY.noteReq,
  OPS_FAILED,
  ...RELAY_ACCESS_METRICS,
];

export function groupThresholds(s: Settings): Record<string, string[]> {
  return {
    ...workThresholds([G.checked.name]),
    [G.incomplete.name]: ['count==0'],
    [G.foreign.name]: ['count==0'],
    [G.kpRefused.name]: ['count==0'],
    [G.noteRefused.name]: ['count==0'],
    [OPS_FAILED.name]: ['rate<0.01'],
    ...latencyThresholds(s, [LATENCY.req.name, LATENCY.request447.name, LATENCY.publish.name, LATENCY.notePublish.name, LATENCY.noteReq.name]),
  };
}

export function groupNotes(values: MetricValuesByName, k: GroupsKnobs): string[] {
  const c = (name: string): number => values[name]?.count ?? 0;
  const notes = [
    `${c(G.invites.name)} invites fetched ${c(G.members.name)} member KeyPackages; members published ${c(G.replenished.name)} more when low (below ${k.lowWater})`,
    `mix: ${k.invitesPerSecond} invites/s, ${k.memberChecksPerSecond} stock checks/s over ${k.members} members, ${k.notesPerSecond} kind 1 write+read/s`,
  ];
  if (c(G.exhausted.name) > 0) notes.push(`${c(G.exhausted.name)} KeyPackages not published: members' pre-made stock ran out (a fixture made for the run, by kpsuite load or load/node/fixture.js, has enough)`);
  return notes;
}

export function groupsPlan(s: Settings, fixture: Fixture): Plan<GroupsData> {
  const k = groupsKnobs(s, { rate: 1 });
  const d = duration(s, 'DURATION', '60s');
  return {
    roles: groupRoles(s, fixture, k, d),
    metrics: GROUP_METRIC_LIST,
    work: [G.checked.name],
    thresholds: groupThresholds(s),
    settings: { RATE: k.invitesPerSecond, NOTE_RATE: k.notesPerSecond, CHECK_RATE: k.memberChecksPerSecond, MEMBERS: k.members, DURATION: d.text },
    setupTimeout: '300s',
    async setup(rt, instance) {
      return setupGroups(rt, s, k, fixture, settleLimits(await fetchNip11(rt, s.url, replyTimeout(s)), s), instance);
    },
    facts: groupsFacts,
    notes: (values) => groupNotes(values, k),
  };
}

export const groupsScenario: Scenario = {
  name: 'groups',
  description: 'A realistic mix: inviters fetch KeyPackages of 2–50 members, members replenish when low, other clients read and write kind 1 notes.',
  plan: groupsPlan,
};
