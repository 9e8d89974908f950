/** How command sequences are generated: which commands, with what weights and ranges. */
import fc from 'fast-check';
import type { KeyPackageLimits } from '../protocol/profile.js';
import {
  ACTORS,
  AdvanceCmd,
  AnonQueryCmd,
  DeleteCmd,
  ExpireCmd,
  InventoryCmd,
  OWNERS,
  PartialRequestCmd,
  PublishCmd,
  QueryCmd,
  RaceCmd,
  RepublishCmd,
  RequestCmd,
  specOwners,
  type Cmd,
  type FilterSpec,
  type Racer,
} from './commands.js';

export const COMMAND_NAMES = ['publish', 'req', 'req-anon', '447', '447-partial', 'race', 'inventory', 'delete', 'republish', 'expire', 'clock'] as const;
export type CommandName = (typeof COMMAND_NAMES)[number];

export interface Capabilities {
  limits: KeyPackageLimits;
  /** Clock commands need a relay whose clock the suite moves; without it expiry runs on the real clock. */
  canMoveClock: boolean;
  /** Commands left out (to aim a run at one rule). */
  exclude?: readonly CommandName[];
}

/** Shrinks to true: the usual case (authenticated, subscribed) is the simpler one. */
const mostly = fc.integer({ min: 0, max: 4 }).map((x) => x < 4);

export function commandArbitrary(caps: Capabilities): fc.Arbitrary<Cmd> {
  const mpq = caps.limits.max_per_query;
  const window = caps.limits.window_seconds;
  const owner = fc.integer({ min: 0, max: OWNERS - 1 });
  const actor = fc.integer({ min: 0, max: ACTORS - 1 });
  const offset = fc.integer({ min: 1, max: ACTORS - 1 });
  // REQ limits around max_per_query, 0 included (hands out nothing, not charged).
  const reqLimit = fc.option(fc.integer({ min: 0, max: mpq + 1 }), { nil: undefined });
  const n = fc.option(fc.integer({ min: 1, max: mpq }), { nil: undefined });
  const racerKind = fc.oneof(
    fc.record({ path: fc.constant('req' as const), amount: fc.option(fc.integer({ min: 1, max: mpq + 1 }), { nil: undefined }) }),
    fc.record({ path: fc.constant('447' as const), amount: n }),
  );
  const racers = fc
    .tuple(fc.shuffledSubarray([1, 2, 3], { minLength: 2, maxLength: ACTORS - 1 }), fc.array(racerKind, { minLength: ACTORS - 1, maxLength: ACTORS - 1 }))
    .map(([offsets, kinds]) => offsets.map((o, i): Racer => ({ offset: o, ...kinds[i]! })));
  const steps = [...new Set([1, 10, window - 1, window])].filter((s) => s > 0);

  // One filter: mostly the plain authors filter, then ids, then one without kinds.
  const filterSpec: fc.Arbitrary<FilterSpec> = fc.oneof(
    { weight: 4, arbitrary: fc.record({ shape: fc.constant('authors' as const), owners: fc.uniqueArray(owner, { minLength: 1, maxLength: OWNERS }), limit: reqLimit }) },
    { weight: 2, arbitrary: fc.record({ shape: fc.constant('ids' as const), owner, picks: fc.array(fc.nat(7), { minLength: 1, maxLength: 3 }), limit: reqLimit }) },
    { weight: 1, arbitrary: fc.record({ shape: fc.constant('no-kinds' as const), owner: actor }) },
  );
  // Charged filters name distinct owners: then no order of taking the filters changes the answer.
  const charged = (f: FilterSpec): boolean => f.shape !== 'no-kinds';
  const disjoint = (fs: readonly FilterSpec[]): boolean => {
    const named = fs.filter(charged).flatMap(specOwners);
    return new Set(named).size === named.length;
  };
  const filters = fc.array(filterSpec, { minLength: 1, maxLength: 3 }).filter(disjoint);
  // Who is authenticated: mostly one actor, sometimes two (kp-auth-multi).
  const by = fc.oneof({ weight: 3, arbitrary: actor.map((a) => [a]) }, { weight: 1, arbitrary: fc.uniqueArray(actor, { minLength: 2, maxLength: 2 }) });
  // Mostly alone on the connection; sometimes with a second actor (the owner: kp-447-owner).
  const also = fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: actor });

  const weighted: (fc.WeightedArbitrary<Cmd> & { name: CommandName })[] = [
    { name: 'publish', weight: 5, arbitrary: fc.tuple(owner, fc.integer({ min: 1, max: mpq + 1 })).map(([o, c]) => new PublishCmd(o, c)) },
    { name: 'req', weight: 4, arbitrary: fc.tuple(by, filters).map(([b, fs]) => new QueryCmd(b, fs)) },
    {
      name: '447',
      weight: 3,
      arbitrary: fc.tuple(owner, offset, n, mostly, mostly, also).map(([o, off, k, sub, auth, with_]) => new RequestCmd(o, off, k, sub, auth, with_)),
    },
    {
      name: '447-partial',
      weight: 1,
      arbitrary: fc
        .tuple(owner, offset, n, fc.constantFrom('since' as const, 'ids' as const), fc.array(fc.nat(7), { minLength: 1, maxLength: 2 }), fc.boolean())
        .map(([o, off, k, shape, picks, full]) => new PartialRequestCmd(o, off, k, shape, picks, full)),
    },
    { name: 'race', weight: 3, arbitrary: fc.tuple(owner, racers, fc.scheduler()).map(([o, rs, s]) => new RaceCmd(o, rs, s)) },
    { name: 'inventory', weight: 1, arbitrary: fc.tuple(owner, fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined })).map(([o, l]) => new InventoryCmd(o, l)) },
    { name: 'delete', weight: 1, arbitrary: fc.tuple(owner, fc.array(fc.nat(7), { minLength: 1, maxLength: 2 }), fc.nat(ACTORS - 1)).map(([o, ps, b]) => new DeleteCmd(o, ps, b)) },
    { name: 'republish', weight: 1, arbitrary: fc.tuple(fc.nat(7), fc.nat(ACTORS - 1)).map(([p, b]) => new RepublishCmd(p, b)) },
    { name: 'req-anon', weight: 1, arbitrary: fc.tuple(owner, fc.option(fc.integer({ min: 1, max: mpq }), { nil: undefined })).map(([o, l]) => new AnonQueryCmd(o, l)) },
    caps.canMoveClock
      ? { name: 'expire', weight: 1, arbitrary: fc.tuple(owner, fc.integer({ min: 1, max: 30 }), fc.boolean()).map(([o, ttl, pass]) => new ExpireCmd(o, ttl, pass)) }
      : // The real clock: a few seconds, waited for at most once per sequence (ExpireCmd.check).
        { name: 'expire', weight: 1, arbitrary: fc.tuple(owner, fc.integer({ min: 2, max: 3 }), fc.boolean()).map(([o, ttl, pass]) => new ExpireCmd(o, ttl, pass, true)) },
    ...(caps.canMoveClock ? [{ name: 'clock' as const, weight: 2, arbitrary: fc.constantFrom(...steps).map((s) => new AdvanceCmd(s)) }] : []),
  ];
  const chosen = weighted.filter((w) => !caps.exclude?.includes(w.name)).map(({ weight, arbitrary }) => ({ weight, arbitrary }));
  if (chosen.length === 0) throw new Error('every command is excluded');
  return fc.oneof(...chosen);
}
