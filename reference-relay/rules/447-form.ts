import { parseKeyPackageRequest } from '../../protocol/keypackage.js';
import { PREFIX } from '../../protocol/profile.js';
import type { RequestCheck } from './447-order.js';
import { Refusal } from './refusal.js';

/** kp-447-form: exactly one p naming another pubkey, at most one n from 1 to max_per_query (default max_per_query). */
export const requestForm: RequestCheck = ({ request, maxPerQuery }) => {
  const parsed = parseKeyPackageRequest(request, maxPerQuery);
  return 'problem' in parsed ? new Refusal(PREFIX.invalid, parsed.problem) : parsed;
};
