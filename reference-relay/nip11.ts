/** The NIP-11 document, including the profile's `keypackages` object (kp-rate-advertise). */
import type { RelayInformation } from '../protocol/messages.js';
import { VERSION } from '../package-info.js';
import { PROFILE_VERSION, REFERENCE_RELAY_SOFTWARE } from '../protocol/profile.js';
import type { RelayConfig } from './config.js';
import { FAULT_NAMES } from './faults.js';

export function relayInformation(config: RelayConfig): RelayInformation & { faults?: string[] } {
  const faults = FAULT_NAMES.filter((f) => config.faults.has(f));
  return {
    name: 'kpsuite reference relay',
    description: `Reference relay for the KeyPackage relay profile ${PROFILE_VERSION} (NIP-EE kinds 443 and 447).`,
    software: REFERENCE_RELAY_SOFTWARE,
    version: VERSION,
    supported_nips: [1, 9, 11, 40, 42, 70],
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
    // A broken-on-purpose relay says so, so nobody mistakes it for the reference.
    ...(faults.length > 0 ? { faults } : {}),
  };
}
