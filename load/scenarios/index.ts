/** Every load scenario by name, and the pre-made pools each wants. */
import type { KeyPackageLimits } from '../../protocol/profile.js';
import type { FixtureNeeds } from '../core/fixture.js';
import type { Scenario, ScenarioName } from '../core/scenario.js';
import { duration, type Settings } from '../core/settings.js';
import { contendNeeds, contendScenario } from './contend.js';
import { groupsKnobs, groupsNeeds, groupsScenario } from './groups.js';
import { publishNeeds, publishScenario } from './publish.js';
import { rateNeeds, rateScenario } from './rate.js';
import { soakScenario } from './soak.js';

export const SCENARIOS: Record<ScenarioName, Scenario> = {
  publish: publishScenario,
  contend: contendScenario,
  rate: rateScenario,
  groups: groupsScenario,
  soak: soakScenario,
};

/**
 * Most a fixture holds: KeyPackages take a few ms each to make. Past them a
 * publish pool wraps (re-publishing gets OK true "duplicate:") and members
 * stop replenishing (groups_stock_exhausted); both are counted and said.
 */
export interface FixtureCaps {
  keyPackages: number;
  notes: number;
}

export const RUN_CAPS: FixtureCaps = { keyPackages: 20_000, notes: 1000 };

/**
 * What a run of `name` with these settings publishes and signs. `limits`:
 * what the relay advertises, which sizes `rate`.
 */
export function fixtureNeeds(name: ScenarioName, s: Settings, limits?: KeyPackageLimits, caps: FixtureCaps = RUN_CAPS): FixtureNeeds {
  switch (name) {
    case 'publish':
      return publishNeeds(s, caps.keyPackages);
    case 'contend':
      return contendNeeds(s);
    case 'rate':
      return rateNeeds(s, limits);
    case 'groups':
    case 'soak':
      return groupsNeeds(groupsKnobs(s, { rate: 1 }), duration(s, 'DURATION', name === 'soak' ? '30m' : '60s').ms, caps);
  }
}
