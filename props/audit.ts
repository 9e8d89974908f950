/**
 * The checks after every command and at the end of a sequence: nothing was
 * pushed to anyone unasked, and each touched owner's stored KeyPackages (read
 * by the owner, which consumes and charges nothing) are what the model holds.
 */
import { checkInventory, checkOwnerQuery, checkStrays } from './invariants.js';
import type { Model } from './model.js';
import type { World } from './world.js';

export async function audit(model: Model, world: World, owners: readonly number[], refusedOnly: ReadonlySet<number> = new Set()): Promise<void> {
  for (const owner of owners) {
    if (model.published(owner).length === 0) continue;
    const events = await world.ownQuery(owner);
    const violation = checkInventory(model, owner, events, refusedOnly) ?? checkOwnerQuery(model, owner, undefined, events);
    if (violation) throw violation;
  }
  // After the probes' round trips, so frames a relay sent late have arrived.
  for (const { holders, conn } of world.connections()) {
    const violation = checkStrays(model, holders, conn.strays());
    if (violation) throw violation;
  }
}

/** At the end: every owner, after giving late frames time to arrive over a network. */
export async function finalAudit(model: Model, world: World, quietMs: number): Promise<void> {
  if (quietMs > 0) await new Promise((resolve) => setTimeout(resolve, quietMs));
  await audit(model, world, model.owners());
}
