/**
 * The ledger: facts one instance records into its summary so that `kpsuite
 * load merge` can judge what no instance can judge alone (a KeyPackage
 * handed out on two instances, an owner's last one, two instances on one
 * slice of the fixture). A fact is a short string of space-separated
 * tokens, counted: `handout <id>` once per hand-out, claims (`owner <pk>`)
 * however often (under k6 every VU records its instance's claims once).
 *
 * Under k6 a fact travels as a check() named `kpsuite <fact>` from a VU
 * (root group), which k6 hands to handleSummary in both shapes of its
 * summary data (legacy `root_group.checks`, machine-readable
 * `results.checks.results`), and from setup()'s data where k6 passes it.
 * Pure code: it is bundled into k6 too.
 */
import { segmentInstance, type Instance } from './instance.js';

export type Ledger = Record<string, number>;

/** What every scenario's setup data carries: where the instance stands and what it took. */
export interface Share {
  instance: Instance;
  /** The fixture's createdAt: instances of one test share one fixture. */
  fixture: number;
  /** The fixture set claimed on this relay. */
  set: number;
}

/** The prefix a fact's check name carries under k6. */
export const CHECK_PREFIX = 'kpsuite ';

export const FACT = {
  instance: (i: Instance): string => `instance ${i.segment} ${i.sequence ?? '-'} ${i.source}`,
  share: (s: Share): string[] => [FACT.instance(s.instance), `fixture ${s.fixture} ${s.set}`],
  owner: (pubkey: string): string => `owner ${pubkey}`,
  requester: (pubkey: string): string => `requester ${pubkey}`,
  /** A KeyPackage the instance published for `owner`; `last` marks the one that must stay. */
  keyPackage: (owner: string, id: string, last: boolean): string => `${last ? 'last' : 'kp'} ${owner} ${id}`,
  handout: (id: string): string => `handout ${id}`,
  /** The owner's own query after the race found `n` stored; each is a `left` fact. */
  inventory: (owner: string, n: number): string => `inventory ${owner} ${n}`,
  left: (owner: string, id: string): string => `left ${owner} ${id}`,
  /** A slice [start, end) of one of the fixture's pools (keyPackages, notes) taken as a whole. */
  range: (pool: string, start: number, end: number): string => `range ${pool} ${start} ${end}`,
} as const;

/** The facts of one kind, split into their tokens after the kind. */
export function factsOf(ledger: Ledger, kind: string): { args: string[]; count: number }[] {
  return Object.entries(ledger)
    .filter(([f]) => f.startsWith(`${kind} `))
    .map(([f, count]) => ({ args: f.split(' ').slice(1), count }));
}

/** Adds `fact` `times` times. */
export function note(ledger: Ledger, fact: string, times = 1): void {
  ledger[fact] = (ledger[fact] ?? 0) + times;
}

/** The instance the ledger records, undefined when it records none, or a string saying what is wrong. */
export function instanceOf(ledger: Ledger): Instance | string | undefined {
  const recorded = factsOf(ledger, 'instance');
  if (recorded.length === 0) return undefined;
  if (recorded.length > 1) return `the ledger names ${recorded.length} different instances`;
  const [segment = '0:1', sequence = '-', source = 'segment'] = recorded[0]?.args ?? [];
  try {
    const inst = segmentInstance(segment, sequence === '-' ? undefined : sequence);
    return source === 'env' && inst.source !== 'whole' ? { ...inst, source: 'env' } : inst;
  } catch (err) {
    return (err as Error).message;
  }
}
