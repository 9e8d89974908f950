/**
 * The NIP-11 document: the kp-relay profile's `keypackages` object
 * (kp-rate-advertise) and the Marmot profile's `marmot` object (mr-advertise).
 */
import type { RelayInformation } from '../protocol/messages.js';
import { VERSION } from '../package-info.js';
import { MARMOT_PROFILE_VERSION, PROFILE_VERSION, REFERENCE_RELAY_SOFTWARE } from '../protocol/profile.js';
import type { RelayConfig } from './config.js';
import { FAULT_NAMES } from './faults.js';
import type { GiftWrapReads } from './rules/mr-1059-serve.js';

/** mr-advertise: the profile, and who may read gift wraps (mr-1059-serve). */
export interface MarmotInformation {
  profile: typeof MARMOT_PROFILE_VERSION;
  gift_wrap_reads: GiftWrapReads;
}

/** NIP-01, 09, 11, 40, 42 and 70: everything both profiles rest on (mr-advertise lists 1, 9, 40, 42 and 70). */
const SUPPORTED_NIPS = [1, 9, 11, 40, 42, 70];

export function relayInformation(config: RelayConfig): RelayInformation & { marmot: MarmotInformation; faults?: string[] } {
  const faults = FAULT_NAMES.filter((f) => config.faults.has(f));
  return {
    name: 'kpsuite reference relay',
    description: `Reference relay for the KeyPackage relay profile ${PROFILE_VERSION} (NIP-EE kinds 443 and 447) and the Marmot relay profile ${MARMOT_PROFILE_VERSION} (kinds 30443, 445, 1059, 10050, 10002).`,
    software: REFERENCE_RELAY_SOFTWARE,
    version: VERSION,
    supported_nips: SUPPORTED_NIPS,
    limitation: {
      max_message_length: config.maxMessageLength,
      max_subscriptions: config.maxSubscriptions,
      max_subid_length: config.maxSubIdLength,
      max_limit: config.maxLimit,
      default_limit: config.maxLimit,
      auth_required: false,
      restricted_writes: false,
    },
    keypackages: { profile: PROFILE_VERSION, ...config.limits, auth_grace_ms: config.authGraceMs, mls_checks: config.mlsChecks },
    marmot: { profile: MARMOT_PROFILE_VERSION, gift_wrap_reads: config.giftWrapReads },
    // A broken-on-purpose relay says so, so nobody mistakes it for the reference.
    ...(faults.length > 0 ? { faults } : {}),
  };
}
