/** Multi-step moves every suite repeats: an authenticated connection, an owner with N KeyPackages. */
import { newKeys, type Keys } from '../protocol/crypto.js';
import type { NostrEvent } from '../protocol/messages.js';
import { KIND } from '../protocol/profile.js';
import { keyPackages, type KeyPackageOptions } from '../fixtures/events.js';
import { RelayClient, type ClientOptions } from './relay-client.js';

export class ChoreographyError extends Error {}

/** Connects and authenticates as `keys` (fresh keys when omitted). */
export async function connectAs(url: string, keys: Keys = newKeys(), opts: ClientOptions = {}): Promise<{ client: RelayClient; keys: Keys }> {
  const client = await RelayClient.connect(url, opts);
  try {
    const reply = await client.auth(keys);
    if (!reply.ok) throw new ChoreographyError(`AUTH as ${keys.pubkey.slice(0, 8)} was refused: ${reply.message}`);
  } catch (err) {
    // The caller never sees this client, so it must not outlive the failure (no challenge, timeout, refusal).
    await client.close();
    throw err;
  }
  return { client, keys };
}

/**
 * Publishes `count` KeyPackages for `owner` on its own authenticated
 * connection, which it closes again, and returns them oldest first.
 */
export async function publishKeyPackages(
  url: string,
  owner: Keys,
  count: number,
  opts: ClientOptions & { keyPackage?: Omit<KeyPackageOptions, 'createdAt'> } = {},
): Promise<NostrEvent[]> {
  const { client } = await connectAs(url, owner, { ...opts, label: opts.label ?? 'owner' });
  try {
    const kps = await keyPackages(owner, count, opts.keyPackage);
    for (const kp of kps) {
      const reply = await client.publish(kp);
      if (!reply.ok) throw new ChoreographyError(`publishing a KeyPackage was refused: ${reply.message}`);
    }
    return kps;
  } finally {
    await client.close();
  }
}

/** The owner's stored KeyPackages, read as the owner (nothing consumed; kp-req-owner). */
export async function inventory(url: string, owner: Keys, opts: ClientOptions = {}): Promise<NostrEvent[]> {
  const { client } = await connectAs(url, owner, { ...opts, label: opts.label ?? 'owner' });
  try {
    const res = await client.req([{ kinds: [KIND.keyPackage], authors: [owner.pubkey] }]);
    if (res.closed !== undefined) throw new ChoreographyError(`the owner's inventory REQ was closed: ${res.closed}`);
    return res.events;
  } finally {
    await client.close();
  }
}
