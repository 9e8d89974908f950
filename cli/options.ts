/** Parsers for command-line values that say exactly what to fix. */
import { InvalidArgumentError } from 'commander';
import { PROFILE_NAMES, type ProfileName } from '../protocol/profile.js';
import { FAULT_NAMES, isFaultName, type FaultName } from '../reference-relay/faults.js';

export function positiveInt(name: string) {
  return (value: string): number => {
    if (!/^\d+$/.test(value) || Number(value) < 1) throw new InvalidArgumentError(`${name} must be a whole number of at least 1, got "${value}"`);
    return Number(value);
  };
}

export function port(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) > 65535) throw new InvalidArgumentError(`the port must be a number from 0 to 65535, got "${value}"`);
  return Number(value);
}

/** A repeatable --fault; an unknown name is a usage error, never ignored. */
export function faultName(value: string, previous: FaultName[] = []): FaultName[] {
  if (!isFaultName(value)) throw new InvalidArgumentError(`unknown fault "${value}"; known faults: ${FAULT_NAMES.join(', ')}`);
  return [...previous, value];
}

/** `--wait SECONDS`: a whole number of seconds, 0 for no wait. */
export function waitSeconds(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError(`--wait must be a whole number of seconds (0 for no wait), got "${value}"`);
  return Number(value);
}

export const PROFILE_CHOICES = [...PROFILE_NAMES, 'all'].join(', ');

/** `--profile` of check and props: names, comma-separated or repeated; `all` is every profile. Unknown names are usage errors (exit 2). */
export function profileList(value: string, previous: ProfileName[] = []): ProfileName[] {
  const names = value.split(',').map((s) => s.trim()).filter(Boolean);
  const valid = `valid profiles: ${PROFILE_CHOICES}`;
  if (names.length === 0) throw new InvalidArgumentError(`give a profile name; ${valid}`);
  const chosen = new Set(previous);
  for (const name of names) {
    if (name === 'all') PROFILE_NAMES.forEach((p) => chosen.add(p));
    else if ((PROFILE_NAMES as string[]).includes(name)) chosen.add(name as ProfileName);
    else throw new InvalidArgumentError(`unknown profile "${name}"; ${valid}`);
  }
  return [...chosen];
}
