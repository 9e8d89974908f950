/**
 * PROFILE-MARMOT.md §1 (marmot-relay/1) as a specification of kind 30443
 * slots: which version of each slot a conforming relay serves after a
 * sequence of publishes and NIP-09 deletions. Written from the profile's
 * sentences (quoted next to each rule), not from the relay's code. Owners and
 * slots are indices; `why` says what the model last did to a version, so a
 * disagreement can be blamed on the rule that decided it.
 */
import type { NostrEvent } from '../protocol/messages.js';

/** The invariants of the slot property, one line each, by PROFILE-MARMOT.md anchor (for reports). */
export const MARMOT_INVARIANTS = {
  'mr-kp-store': "the slot's current version is accepted with OK true and served byte for byte, without AUTH, to {kinds:[30443], authors:[owner]}",
  'mr-kp-replace': 'at most one version per slot is served: the highest created_at, the lower id on a tie, whatever the arrival order',
  'mr-kp-filters': "a #d filter returns that slot's current version and nothing else",
  'mr-kp-no-consume': 'fetching changes nothing: every fetch, on any connection, returns the current version of every slot',
  'mr-kp-delete': "the owner's kind 5 removes the version it names by e, and by a every version not after it; a newer version is accepted and served",
} as const;

export type MarmotAnchor = keyof typeof MARMOT_INVARIANTS;

export class MarmotViolation extends Error {
  constructor(
    readonly anchor: MarmotAnchor,
    readonly detail: string,
  ) {
    super(`${anchor}: ${detail}`);
    this.name = 'MarmotViolation';
  }
}

/** What happened to a version the model has seen, last. */
export type VersionFate =
  | 'current'
  /** Lost to a newer version, or to one with the same created_at and a lower id (mr-kp-replace). */
  | 'superseded'
  /** Named by an `e` tag of its owner's kind 5 (mr-kp-delete). */
  | 'e-deleted'
  /** created_at not after an `a` deletion of its slot (mr-kp-delete). */
  | 'a-deleted';

export interface ModelVersion {
  readonly event: NostrEvent;
  readonly owner: number;
  readonly slot: number;
  /** `O0/s1@3b`: owner, slot, created_at offset, variant, for messages. */
  readonly name: string;
  fate: VersionFate;
  /** The step that last decided its fate. */
  step: number;
}

export interface SlotState {
  /** The version the relay must serve, if any. */
  current: ModelVersion | undefined;
  /** The highest created_at of the owner's `a` deletions of this slot. */
  deletedUntil: number | undefined;
  /** The step that last changed `current`. */
  changedStep: number;
}

/** mr-kp-replace, NIP-01: "the event with the lowest id (first in lexical order) should be retained". */
export function beats(a: NostrEvent, b: NostrEvent): boolean {
  return a.created_at > b.created_at || (a.created_at === b.created_at && a.id < b.id);
}

export class MarmotModel {
  step = 0;
  readonly versions = new Map<string, ModelVersion>();
  /** `owner` → `slot` → state. */
  readonly slots: SlotState[][];

  constructor(
    readonly owners: number,
    readonly slotsPerOwner: number,
  ) {
    this.slots = Array.from({ length: owners }, () => Array.from({ length: slotsPerOwner }, () => ({ current: undefined, deletedUntil: undefined, changedStep: 0 })));
  }

  private version(event: NostrEvent, owner: number, slot: number, name: string): ModelVersion {
    let v = this.versions.get(event.id);
    if (!v) {
      v = { event, owner, slot, name, fate: 'superseded', step: this.step };
      this.versions.set(event.id, v);
    }
    return v;
  }

  /**
   * A version arrives; returns whether it is now the slot's current version
   * (then mr-kp-store: "MUST be answered ["OK", <id>, true, ""]").
   */
  publish(event: NostrEvent, owner: number, slot: number, name: string): boolean {
    const v = this.version(event, owner, slot, name);
    const s = this.slots[owner]![slot]!;
    // NIP-09 "stop publishing any referenced events": an e-deleted id is never served again.
    if (v.fate === 'e-deleted') return false;
    // mr-kp-delete: by `a`, "every version of that slot whose created_at is not after the deletion's" is removed;
    // "A version of the slot newer than the deletion, published afterwards, MUST be accepted and served."
    if (s.deletedUntil !== undefined && event.created_at <= s.deletedUntil) {
      v.fate = 'a-deleted';
      v.step = this.step;
      return false;
    }
    if (s.current === v) return true;
    // mr-kp-replace: "A newer version replaces the older one; an older version that arrives after a newer one is
    // not served ...; of two versions with the same created_at, the one with the lower id is kept, whatever the
    // order they arrive in."
    if (s.current && !beats(event, s.current.event)) {
      v.fate = 'superseded';
      v.step = this.step;
      return false;
    }
    if (s.current) {
      s.current.fate = 'superseded';
      s.current.step = this.step;
    }
    v.fate = 'current';
    v.step = this.step;
    s.current = v;
    s.changedStep = this.step;
    return true;
  }

  /** mr-kp-delete: "by `e` the version with that id". Only the owner deletes ("A kind 5 by anyone else removes nothing"). */
  deleteById(id: string): void {
    const v = this.versions.get(id);
    if (!v) return;
    const s = this.slots[v.owner]![v.slot]!;
    if (s.current === v) {
      // The replaced versions are gone: NIP-01 "older versions MAY be discarded" (see props/README.md).
      s.current = undefined;
      s.changedStep = this.step;
    }
    v.fate = 'e-deleted';
    v.step = this.step;
  }

  /** mr-kp-delete: by `a` (`30443:<pubkey>:<d>`), "every version of that slot whose created_at is not after the deletion's". */
  deleteSlot(owner: number, slot: number, until: number): void {
    const s = this.slots[owner]![slot]!;
    s.deletedUntil = Math.max(s.deletedUntil ?? until, until);
    if (s.current && s.current.event.created_at <= until) {
      s.current.fate = 'a-deleted';
      s.current.step = this.step;
      s.current = undefined;
      s.changedStep = this.step;
    }
  }

  /**
   * mr-kp-replace "A relay MUST serve at most one event per slot, the current version", checked against what a
   * fetch of one owner's slots returned (`served`: the events of that fetch; `slotOf` maps an event to its slot
   * index, or undefined for a slot the model does not know). Throws the violated anchor.
   */
  judge(owner: number, served: readonly NostrEvent[], slotOf: (e: NostrEvent) => number | undefined, what: string, only?: number): void {
    const slots = only === undefined ? this.slots[owner]!.map((_, i) => i) : [only];
    for (const e of served) {
      const slot = slotOf(e);
      const v = this.versions.get(e.id);
      if (slot === undefined || !v || !slots.includes(slot)) {
        throw new MarmotViolation(only === undefined ? 'mr-kp-store' : 'mr-kp-filters', `${what} returned ${v?.name ?? e.id.slice(0, 12)}, not asked for (a slot it does not name, or an event never published)`);
      }
    }
    for (const slot of slots) {
      const s = this.slots[owner]![slot]!;
      const got = served.filter((e) => slotOf(e) === slot);
      const names = got.map((e) => this.versions.get(e.id)!.name).join(', ');
      const want = s.current;
      if (got.length > 1) throw new MarmotViolation('mr-kp-replace', `${what} returned ${got.length} versions of slot O${owner}/s${slot} (${names}); at most one, the current ${want?.name ?? '(none)'}`);
      const [e] = got;
      if (e && want && e.id === want.event.id) {
        if (JSON.stringify(e) !== JSON.stringify(want.event)) throw new MarmotViolation('mr-kp-store', `${what} returned ${want.name} altered (not byte for byte as published)`);
        continue;
      }
      if (!e && !want) continue;
      if (e) {
        const v = this.versions.get(e.id)!;
        if (v.fate === 'e-deleted' || v.fate === 'a-deleted') {
          throw new MarmotViolation('mr-kp-delete', `${what} returned ${v.name}, ${v.fate} at step ${v.step}; expected ${want?.name ?? 'nothing'} for slot O${owner}/s${slot}`);
        }
        throw new MarmotViolation(
          'mr-kp-replace',
          `${what} returned ${v.name} (created_at ${v.event.created_at}, id ${e.id.slice(0, 8)}) for slot O${owner}/s${slot}, superseded at step ${v.step}; the current version is ${want ? `${want.name} (created_at ${want.event.created_at}, id ${want.event.id.slice(0, 8)})` : 'none'}`,
        );
      }
      // Nothing served where the model has a current version.
      const w = want!;
      const anchor: MarmotAnchor = s.changedStep < this.step ? 'mr-kp-no-consume' : s.deletedUntil !== undefined ? 'mr-kp-delete' : 'mr-kp-store';
      const why =
        anchor === 'mr-kp-no-consume'
          ? `it was current since step ${s.changedStep} and only fetches happened to it since`
          : anchor === 'mr-kp-delete'
            ? `it is newer than the slot's a-deletion (until ${s.deletedUntil})`
            : 'it is the newest version published';
      throw new MarmotViolation(anchor, `${what} returned nothing for slot O${owner}/s${slot}; expected ${w.name}: ${why}`);
    }
  }
}
