/**
 * Each owner's stored kind 443 KeyPackages in hand-out order (created_at, then
 * id), held beside SQLite so a hand-out finds what it may take without a
 * query (issue: hand-outs at the machine's limit). SQLite stays the truth:
 * an owner's list is loaded from it on first use, kept in step by every
 * insert and delete the store makes, and dropped when the lists hold more
 * than `capacity` KeyPackages (least recently used owner first), to be loaded
 * again when next asked.
 */
import { matchFilter } from 'nostr-tools/filter';
import type { Filter } from '../../protocol/messages.js';
import { KIND } from '../../protocol/profile.js';
import type { HandoutOrder } from './store.js';

/** What the pick reads of a stored KeyPackage. */
export interface Held {
  readonly id: string;
  readonly createdAt: number;
  /** The unix second from which it is left out (NIP-40), or null. */
  readonly expiresAt: number | null;
}

const before = (a: Held, b: Held): boolean => a.createdAt < b.createdAt || (a.createdAt === b.createdAt && a.id < b.id);
const live = (kp: Held, nowSeconds: number): boolean => kp.expiresAt === null || kp.expiresAt > nowSeconds;

/** Whether a filter names only what a Held carries (no tag conditions), so the pick can judge it here. */
export const judgedWithoutTags = (filter: Filter): boolean => Object.keys(filter).every((key) => !key.startsWith('#'));

export interface Picked {
  ids: string[];
  ownerHasMore: boolean;
}

export class KeyPackageInventory {
  /** By owner; Map order is recency of use, oldest first. */
  private readonly lists = new Map<string, Held[]>();
  private held = 0;

  constructor(private readonly capacity: number) {}

  /** The owner's list if it is loaded. */
  loaded(owner: string): Held[] | undefined {
    return this.lists.get(owner);
  }

  /** Keeps `list` (from SQLite, in hand-out order) as the owner's, dropping the least recently used owners past capacity. */
  load(owner: string, list: Held[]): Held[] {
    this.drop(owner);
    this.lists.set(owner, list);
    this.held += list.length;
    for (const [other, otherList] of this.lists) {
      if (this.held <= this.capacity || other === owner) break;
      this.lists.delete(other);
      this.held -= otherList.length;
    }
    return list;
  }

  drop(owner: string): void {
    const list = this.lists.get(owner);
    if (!list) return;
    this.lists.delete(owner);
    this.held -= list.length;
  }

  /** Marks the owner most recently used. */
  touch(owner: string, list: Held[]): void {
    this.lists.delete(owner);
    this.lists.set(owner, list);
  }

  /** Adds a stored KeyPackage to its owner's list, if loaded; returns whether it did. */
  add(owner: string, kp: Held): boolean {
    const list = this.lists.get(owner);
    if (!list) return false;
    let i = list.length;
    while (i > 0 && before(kp, list[i - 1]!)) i--; // new KeyPackages are usually the newest: found at the end
    list.splice(i, 0, kp);
    this.held += 1;
    return true;
  }

  /** Removes a KeyPackage from its owner's list, if loaded; returns what it removed. */
  remove(owner: string, id: string): Held | undefined {
    const list = this.lists.get(owner);
    const i = list?.findIndex((kp) => kp.id === id) ?? -1;
    if (!list || i < 0) return undefined;
    this.held -= 1;
    return list.splice(i, 1)[0];
  }

  /**
   * The first `cap` of the list, in `order`, that are live and match one of `filters` (none has tag
   * conditions: judgedWithoutTags), and whether the owner has a live KeyPackage beyond those.
   */
  static pick(owner: string, list: readonly Held[], filters: readonly Filter[], cap: number, order: HandoutOrder, nowSeconds: number): Picked {
    const ids: string[] = [];
    let ownerHasMore = false;
    const n = list.length;
    for (let k = 0; k < n; k++) {
      const kp = list[order === 'oldest-first' ? k : n - 1 - k]!;
      if (!live(kp, nowSeconds)) continue;
      if (ids.length === cap) {
        ownerHasMore = true; // one live KeyPackage past the cap is enough to know
        break;
      }
      const probe = { id: kp.id, pubkey: owner, kind: KIND.keyPackage, created_at: kp.createdAt, tags: [], content: '', sig: '' };
      if (filters.some((filter) => matchFilter(filter, probe))) ids.push(kp.id);
      else ownerHasMore = true;
    }
    return { ids, ownerHasMore };
  }
}
