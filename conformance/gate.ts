/**
 * What makes `kpsuite check` exit non-zero, in one place (README, "Checking
 * your relay", states the same contract): which tests a selection picks, when
 * a relay claims the profile, and which records stop the run.
 */
import type { RelayInformation } from '../protocol/messages.js';
import type { KeyPackageLimits } from '../protocol/profile.js';
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

/**
 * A relay claims the profile when its NIP-11 document has a `keypackages`
 * object, or when the user gave its limits as flags (saying "check it as this").
 */
export function profileClaim(nip11: RelayInformation | undefined, flags: Partial<KeyPackageLimits>): ProfileClaim {
  const by: ProfileClaim['by'] = [];
  const kps: unknown = nip11?.keypackages;
  if (typeof kps === 'object' && kps !== null && !Array.isArray(kps)) by.push('nip11-keypackages');
  if (Object.values(flags).some((v) => v !== undefined)) by.push('limit-flags');
  return { claimed: by.length > 0, by };
}

export interface GateInputs {
  strict: boolean;
  /** The relay claims the profile (profileClaim). */
  claimed: boolean;
  /** --allow-untested: untested MUSTs do not fail a claiming relay. */
  allowUntested: boolean;
}

/** Whether untested MUST tests fail the run: only for a relay that claims the profile, unless allowed. */
export function untestedGates(g: GateInputs): boolean {
  return g.claimed && !g.allowUntested;
}

/**
 * Whether a record stops the run: a MUST that failed or could not run; an
 * untested MUST when untestedGates; with --strict a broken SHOULD.
 */
export function gates(record: TestRecord, g: GateInputs): boolean {
  if (record.outcome === 'fail') return true;
  if (record.outcome === 'error' && record.level === 'MUST') return true;
  if (record.outcome === 'untested' && record.level === 'MUST' && untestedGates(g)) return true;
  return g.strict && (record.outcome === 'non-strict' || (record.outcome === 'error' && record.level === 'SHOULD'));
}

/** MUST tests that could not be checked, grouped by the reason each gave (most frequent first). */
export function untestedMust(records: readonly TestRecord[], g: GateInputs): UntestedMust {
  const groups = new Map<string, string[]>();
  for (const r of records) {
    if (r.outcome !== 'untested' || r.level !== 'MUST') continue;
    const reason = r.message ?? '(no reason given)';
    groups.set(reason, [...(groups.get(reason) ?? []), r.id]);
  }
  const byReason = [...groups].map(([reason, ids]) => ({ reason, ids })).sort((a, b) => b.ids.length - a.ids.length);
  return { count: byReason.reduce((n, x) => n + x.ids.length, 0), gating: untestedGates(g), byReason };
}

/** Anchors (requirements) with at least one record in `failing`, in first-seen order. */
export function failingAnchors(failing: readonly TestRecord[]): string[] {
  return [...new Set(failing.map((r) => r.anchor))];
}
