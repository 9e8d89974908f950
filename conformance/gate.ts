/**
 * What makes `kpsuite check` exit non-zero, in one place (README, "Checking
 * your relay", states the same contract): which tests a selection picks, which
 * profiles a relay claims, and which records stop the run.
 */
import type { RelayInformation } from '../protocol/messages.js';
import { PROFILE_NAMES, PROFILES, profileOfAnchor, type KeyPackageLimits, type ProfileName } from '../protocol/profile.js';
import type { ProfileClaim, TestRecord, UntestedMust } from '../report/schema.js';
import { selectorMatches, type Selectable, type Selection } from './runner.js';

/**
 * Why a selection cannot be used, or undefined when it can: a glob that
 * matches no test would otherwise give a green run that checked nothing.
 */
export function selectionProblem(tests: readonly Selectable[], sel: Selection): string | undefined {
  const dead = [...sel.only.map((g) => ['--only', g] as const), ...sel.exclude.map((g) => ['--exclude', g] as const)].filter(
    ([, g]) => !tests.some((t) => selectorMatches(g, t)),
  );
  // The example is the test closest to what was typed, so a typo shows its correction.
  const hint = (glob: string): string => {
    const common = (a: string): number => {
      let i = 0;
      while (i < a.length && i < glob.length && a[i] === glob[i]) i++;
      return i;
    };
    const example = [...tests].sort((a, b) => common(b.id) - common(a.id))[0];
    const anchor = example?.anchor ?? 'kp-handout-last-resort';
    return `test ids look like ${example?.id ?? `${anchor}/req`}: select one anchor's tests with '${anchor}/*' or the bare anchor ${anchor}, a family with 'kp-handout-*'; kpsuite check --list prints every id`;
  };
  if (dead.length > 0) return `${dead.map(([flag, g]) => `${flag} '${g}'`).join(', ')} matches no test; ${hint(dead[0]![1])}`;
  const selected = tests.filter((t) => (sel.only.length === 0 || sel.only.some((g) => selectorMatches(g, t))) && !sel.exclude.some((g) => selectorMatches(g, t)));
  if (selected.length === 0) return `the selection leaves no test to run; ${hint(sel.only[0] ?? '')}`;
  return undefined;
}

/** Whether NIP-11 has an object under `key` whose `profile` starts with `prefix` (or, when `profileOptional`, that names no profile). */
function claimObject(nip11: RelayInformation | undefined, key: string, prefix: string, profileOptional: boolean): boolean {
  const value: unknown = (nip11 as Record<string, unknown> | undefined)?.[key];
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const profile: unknown = (value as Record<string, unknown>).profile;
  return typeof profile === 'string' ? profile.startsWith(prefix) : profileOptional && profile === undefined;
}

/**
 * The profiles a relay claims, and how: kp-relay by a NIP-11 `keypackages`
 * object (whose `profile`, when it has one, starts with `kp-relay`) or by
 * limits given as flags (the user saying "check it as this"); marmot-relay by
 * a NIP-11 `marmot` object whose `profile` starts with `marmot-relay`
 * (PROFILE-MARMOT.md, mr-advertise).
 */
export function profileClaim(nip11: RelayInformation | undefined, flags: Partial<KeyPackageLimits>): ProfileClaim {
  const by: ProfileClaim['by'] = [];
  if (claimObject(nip11, PROFILES['kp-relay'].nip11Key, 'kp-relay', true)) by.push('nip11-keypackages');
  if (Object.values(flags).some((v) => v !== undefined)) by.push('limit-flags');
  if (claimObject(nip11, PROFILES['marmot-relay'].nip11Key, 'marmot-relay', false)) by.push('nip11-marmot');
  return { claimed: by.length > 0, by };
}

/** How each profile is claimed (ProfileClaim.by). */
const CLAIMED_BY: Record<ProfileName, readonly ProfileClaim['by'][number][]> = {
  'kp-relay': ['nip11-keypackages', 'limit-flags'],
  'marmot-relay': ['nip11-marmot'],
};

/** The profiles a claim names; `inNip11` leaves out the limit flags. */
export function claimedProfiles(claim: ProfileClaim, inNip11 = false): ProfileName[] {
  return PROFILE_NAMES.filter((name) => CLAIMED_BY[name].some((how) => claim.by.includes(how) && !(inNip11 && how === 'limit-flags')));
}

export interface GateInputs {
  strict: boolean;
  /** The profiles the relay claims (profileClaim). */
  claimed: readonly ProfileName[];
  /** --allow-untested: untested MUSTs do not fail a claiming relay. */
  allowUntested: boolean;
}

/**
 * Whether the relay's claims cover a test: it claims the test's profile (a
 * NIP test: any profile, whose rules lean on the NIPs).
 */
export function claimCovers(claimed: readonly ProfileName[], anchor: string): boolean {
  const profile = profileOfAnchor(anchor);
  return profile === undefined ? claimed.length > 0 : claimed.includes(profile);
}

/** Whether an untested MUST test of `anchor` fails the run: only when the relay claims its profile, unless allowed. */
export function untestedGates(g: GateInputs, anchor: string): boolean {
  return claimCovers(g.claimed, anchor) && !g.allowUntested;
}

/**
 * Whether a record stops the run: a MUST that failed or could not run; an
 * untested MUST when untestedGates; with --strict a broken SHOULD.
 */
export function gates(record: TestRecord, g: GateInputs): boolean {
  if (record.outcome === 'fail') return true;
  if (record.outcome === 'error' && record.level === 'MUST') return true;
  if (record.outcome === 'untested' && record.level === 'MUST' && untestedGates(g, record.anchor)) return true;
  return g.strict && (record.outcome === 'non-strict' || (record.outcome === 'error' && record.level === 'SHOULD'));
}

const untestedMustRecord = (r: TestRecord): boolean => r.outcome === 'untested' && r.level === 'MUST';

/**
 * MUST tests that could not be checked, grouped by the reason each gave (most
 * frequent first); `gating` when one of them fails the run (with none, when
 * the relay claims a profile and untested MUSTs are not allowed).
 */
export function untestedMust(records: readonly TestRecord[], g: GateInputs): UntestedMust {
  const groups = new Map<string, string[]>();
  const untested = records.filter(untestedMustRecord);
  for (const r of untested) {
    const reason = r.message ?? '(no reason given)';
    groups.set(reason, [...(groups.get(reason) ?? []), r.id]);
  }
  const byReason = [...groups].map(([reason, ids]) => ({ reason, ids })).sort((a, b) => b.ids.length - a.ids.length);
  const gating = untested.length > 0 ? untested.some((r) => untestedGates(g, r.anchor)) : g.claimed.length > 0 && !g.allowUntested;
  return { count: untested.length, gating, byReason };
}

/**
 * Whether every profile the run checked was really checked: each untested
 * MUST belongs to a profile the relay claims (so it is judged by the gate),
 * never to one it claims nothing of, which would leave that profile unchecked.
 */
export function profilesChecked(records: readonly TestRecord[], claimed: readonly ProfileName[]): boolean {
  return records.filter(untestedMustRecord).every((r) => claimCovers(claimed, r.anchor));
}

/** Anchors (requirements) with at least one record in `failing`, in first-seen order. */
export function failingAnchors(failing: readonly TestRecord[]): string[] {
  return [...new Set(failing.map((r) => r.anchor))];
}
