/**
 * The charges of kp-rate-queries and kp-rate-served, per requester, in the
 * order made, with running totals: a rate check is two binary searches
 * instead of a SUM over every charge in the window (which grew with a busy
 * requester's traffic). The charges table stays the truth: a requester's
 * charges are loaded from it on first use and appended to with every charge
 * the store writes; the sweep prunes both alike.
 */

/** A charge as the table holds it. */
export interface Charge {
  owner: string;
  atMs: number;
  served: number;
}

/** Index of the first element of ascending `xs` greater than `x`. */
function firstAfter(xs: readonly number[], x: number): number {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (xs[mid]! <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** One requester's charges, ascending by time. */
export class RequesterCharges {
  private readonly at: number[] = [];
  private readonly served: number[] = [];
  private readonly owners: string[] = [];
  /** served[0..i] summed: the running total through charge i. */
  private readonly servedThrough: number[] = [];
  /** Charge times per owner, ascending. */
  private readonly byOwner = new Map<string, number[]>();

  constructor(charges: readonly Charge[] = []) {
    for (const c of charges) this.add(c);
  }

  get size(): number {
    return this.at.length;
  }

  /** Queries charged for `owner` after `sinceMs`. */
  queriesFor(owner: string, sinceMs: number): number {
    const times = this.byOwner.get(owner);
    return times ? times.length - firstAfter(times, sinceMs) : 0;
  }

  /** KeyPackages served after `sinceMs`. */
  servedSince(sinceMs: number): number {
    const first = firstAfter(this.at, sinceMs);
    const total = this.servedThrough.at(-1) ?? 0;
    return first === 0 ? total : total - this.servedThrough[first - 1]!;
  }

  add(c: Charge): void {
    const i = firstAfter(this.at, c.atMs); // the end, unless the clock went back
    this.at.splice(i, 0, c.atMs);
    this.served.splice(i, 0, c.served);
    this.owners.splice(i, 0, c.owner);
    this.totalFrom(i);
    const times = this.byOwner.get(c.owner) ?? [];
    times.splice(firstAfter(times, c.atMs), 0, c.atMs);
    this.byOwner.set(c.owner, times);
  }

  /** Takes back a charge equal to `c`, as a rolled-back transaction does. */
  undo(c: Charge): void {
    let k = firstAfter(this.at, c.atMs) - 1;
    while (k >= 0 && this.at[k] === c.atMs && (this.owners[k] !== c.owner || this.served[k] !== c.served)) k--;
    if (k < 0 || this.at[k] !== c.atMs) return;
    this.at.splice(k, 1);
    this.served.splice(k, 1);
    this.owners.splice(k, 1);
    this.totalFrom(k);
    const times = this.byOwner.get(c.owner);
    if (times) {
      times.splice(firstAfter(times, c.atMs) - 1, 1);
      if (times.length === 0) this.byOwner.delete(c.owner);
    }
  }

  /** Forgets charges at or before `beforeMs`, as the sweep prunes the table. */
  prune(beforeMs: number): void {
    const n = firstAfter(this.at, beforeMs);
    if (n === 0) return;
    this.at.splice(0, n);
    this.served.splice(0, n);
    this.owners.splice(0, n);
    this.totalFrom(0);
    for (const [owner, times] of this.byOwner) {
      times.splice(0, firstAfter(times, beforeMs));
      if (times.length === 0) this.byOwner.delete(owner);
    }
  }

  /** Recomputes the running totals from charge i on (only the new last one, in the usual case). */
  private totalFrom(i: number): void {
    this.servedThrough.length = this.at.length;
    for (let k = i; k < this.at.length; k++) this.servedThrough[k] = (k === 0 ? 0 : this.servedThrough[k - 1]!) + this.served[k]!;
  }
}
