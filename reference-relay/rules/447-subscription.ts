import type { Filter } from '../../protocol/messages.js';
import { KIND, PREFIX } from '../../protocol/profile.js';
import type { RequestCheck } from './447-order.js';
import { Refusal } from './refusal.js';

/** A filter that could ever carry this owner's KeyPackages: kinds absent or with 443, authors absent or with the owner. */
function canReceive(filter: Filter, owner: string): boolean {
  return (filter.kinds === undefined || filter.kinds.includes(KIND.keyPackage)) && (filter.authors === undefined || filter.authors.includes(owner));
}

/** kp-447-subscription: the connection must have an open subscription that can receive the owner's KeyPackages. */
export const requestSubscription: RequestCheck = ({ owner, subscriptions }) => {
  if (owner === undefined) throw new Error('the subscription check runs after the form check');
  const filters = [...subscriptions].flat().filter((f) => canReceive(f, owner));
  if (filters.length > 0) return { filters };
  return new Refusal(
    PREFIX.invalid,
    `no open subscription here can receive ${owner}'s KeyPackages; open one first, e.g. ["REQ", <sub>, {"kinds":[443],"authors":["${owner}"],"limit":0}]`,
  );
};
