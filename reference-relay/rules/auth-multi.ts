/**
 * kp-auth-multi: why a verified AUTH for `pubkey` may not add it to the
 * connection's `authenticated` pubkeys. Never: a connection authenticates as
 * many pubkeys as it sends valid AUTHs for.
 */
export function anotherAuthProblem(_authenticated: ReadonlySet<string>, _pubkey: string): string | undefined {
  return undefined;
}
