/**
 * The first of each owner's stored kind 443 KeyPackages in hand-out order
 * (created_at, then id), held beside SQLite so a hand-out finds what it may
 * take without a query (issue: hand-outs at the machine's limit). SQLite
 * stays the truth: an owner's list is loaded from it on first use (a prefix
 * of the order, so the cost does not grow with the owner's pool), kept in
 * step by every insert and delete the store makes, loaded further when a pick
 * runs past its end, and dropped when the lists hold more than `capacity`
 * KeyPackages (least recently used owner first), to be loaded again when
 * next asked.
 */
import { matchesAnyFilter } from '../../protocol/filter.js';
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

/**
 * An owner's KeyPackages from the first in hand-out order: every one stored that is ordered at or
 * before `boundary` is in `items`; without a boundary, all the owner's are.
 */
export interface OwnerList {
  items: Held[];
  boundary: Held | undefined;
}

export interface Picked {
  ids: string[];
  ownerHasMore: boolean;
}

export class KeyPackageInventory {
  /** By owner; Map order is recency of use, oldest first. */
  private readonly lists = new Map<string, OwnerList>();
  private held = 0;

  constructor(private readonly capacity: number) {}

  /** The owner's list if it is loaded. */
  loaded(owner: string): OwnerList | undefined {
    return this.lists.get(owner);
  }

  /**
   * Keeps `rows` (from SQLite, in hand-out order, at most `limit` + 1 of them; no limit: all) as the
   * owner's list, dropping the least recently used owners past capacity.
   */
  load(owner: string, rows: Held[], limit: number | undefined): OwnerList {
    this.drop(owner);
    const partial = limit !== undefined && rows.length > limit;
    const list: OwnerList = partial ? { items: rows.slice(0, limit), boundary: rows[limit - 1] } : { items: rows, boundary: undefined };
    this.lists.set(owner, list);
    this.held += list.items.length;
    this.evictFor(owner);
    return list;
  }

  /** Drops the least recently used lists but `owner`'s while the lists hold more than capacity. */
  private evictFor(owner: string): void {
    for (const [other, otherList] of this.lists) {
      if (this.held <= this.capacity) return;
      if (other === owner) continue;
      this.lists.delete(other);
      this.held -= otherList.items.length;
    }
  }

  drop(owner: string): void {
    const list = this.lists.get(owner);
    if (!list) return;
    this.lists.delete(owner);
    this.held -= list.items.length;
  }

  /** Marks the owner most recently used. */
  touch(owner: string, list: OwnerList): void {
    this.lists.delete(owner);
    this.lists.set(owner, list);
  }

  /** Adds a stored KeyPackage to its owner's list, if loaded and it falls within what the list holds; returns whether it did. */
  add(owner: string, kp: Held): boolean {
    const list = this.lists.get(owner);
    if (!list || (list.boundary && before(list.boundary, kp))) return false;
    const { items } = list;
    let i = items.length;
    while (i > 0 && before(kp, items[i - 1]!)) i--; // new KeyPackages are usually the newest: found at the end
    items.splice(i, 0, kp);
    this.held += 1;
    this.evictFor(owner);
    return true;
  }

  /** Removes a KeyPackage from its owner's list, if held; returns what it removed. */
  remove(owner: string, id: string): Held | undefined {
    const list = this.lists.get(owner);
    const i = list?.items.findIndex((kp) => kp.id === id) ?? -1;
    if (!list || i < 0) return undefined;
    this.held -= 1;
    return list.items.splice(i, 1)[0];
  }

  /**
   * The first `cap` of the list, in `order`, that are live and match one of `filters` (none has tag
   * conditions: judgedWithoutTags), and whether the owner has a live KeyPackage beyond those; or
   * 'more' when the answer lies past the end of a partial list. Newest first needs the whole list.
   */
  static pick(owner: string, list: OwnerList, filters: readonly Filter[], cap: number, order: HandoutOrder, nowSeconds: number): Picked | 'more' {
    const { items } = list;
    if (order === 'newest-first' && list.boundary) return 'more';
    const ids: string[] = [];
    let ownerHasMore = false;
    const n = items.length;
    for (let k = 0; k < n; k++) {
      const kp = items[order === 'oldest-first' ? k : n - 1 - k]!;
      if (!live(kp, nowSeconds)) continue;
      if (ids.length === cap) {
        return { ids, ownerHasMore: true }; // one live KeyPackage past the cap is enough to know
      }
      const probe = { id: kp.id, pubkey: owner, kind: KIND.keyPackage, created_at: kp.createdAt, tags: [], content: '', sig: '' };
      if (matchesAnyFilter(filters, probe)) ids.push(kp.id);
      else ownerHasMore = true;
    }
    return list.boundary ? 'more' : { ids, ownerHasMore };
  }
}
