import { PREFIX } from '../../protocol/profile.js';
import type { RequestCheck } from './447-order.js';
import { Refusal } from './refusal.js';

/** kp-447-auth: the request's signer must be authenticated on the connection (another pubkey does not stand in). */
export const requestSignerAuthenticated: RequestCheck = ({ request, authenticated }) =>
  authenticated.has(request.pubkey)
    ? undefined
    : new Refusal(PREFIX.authRequired, "authenticate as the request's signer (NIP-42) before requesting KeyPackages");
