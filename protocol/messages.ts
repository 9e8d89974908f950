/** NIP-01 wire types shared by the relay, the client helper and the suites. */
import type { NostrEvent } from 'nostr-tools';

export type { NostrEvent };

/** A NIP-01 filter; tag filters are `#` plus one letter. */
export interface Filter {
  ids?: string[];
  authors?: string[];
  kinds?: number[];
  since?: number;
  until?: number;
  limit?: number;
  [tag: `#${string}`]: string[] | undefined;
}

export type RelayMessage =
  | ['EVENT', string, NostrEvent]
  | ['OK', string, boolean, string]
  | ['EOSE', string]
  | ['CLOSED', string, string]
  | ['NOTICE', string]
  | ['AUTH', string];

/** NIP-11 document fields this suite reads or the reference relay serves. */
export interface RelayInformation {
  name?: string;
  description?: string;
  software?: string;
  version?: string;
  supported_nips?: number[];
  limitation?: {
    max_message_length?: number;
    max_subscriptions?: number;
    max_limit?: number;
    max_subid_length?: number;
    default_limit?: number;
    auth_required?: boolean;
    restricted_writes?: boolean;
    created_at_lower_limit?: number;
    created_at_upper_limit?: number;
  };
  keypackages?: {
    profile: string;
    max_per_query: number;
    queries_per_window: number;
    served_per_window: number;
    window_seconds: number;
    /** kp-auth-grace: how long a request that came before the AUTH is held, in ms. */
    auth_grace_ms?: number;
    /** kp-pub-mls: whether the relay refuses KeyPackages that are not usable MLS KeyPackages. */
    mls_checks?: boolean;
  };
  /** PROFILE-MARMOT.md mr-advertise. */
  marmot?: {
    profile: string;
    gift_wrap_reads?: 'recipient' | 'anyone';
  };
}
