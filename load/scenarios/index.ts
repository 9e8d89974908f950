/** Every load scenario by name, and the pre-signed pools each wants. */
import type { FixtureNeeds } from '../core/fixture.js';
import type { Scenario, ScenarioName } from '../core/scenario.js';
import { duration, num, type Settings } from '../core/settings.js';
import { contendScenario } from './contend.js';
import { groupsScenario } from './groups.js';
import { publishPoolSize, publishScenario } from './publish.js';
import { rateScenario } from './rate.js';
import { soakScenario } from './soak.js';

export const SCENARIOS: Record<ScenarioName, Scenario> = {
  publish: publishScenario,
  contend: contendScenario,
  rate: rateScenario,
  groups: groupsScenario,
  soak: soakScenario,
};

/** Notes a run writes, capped: the pool wraps (re-publishing a note gets OK true "duplicate:"). */
const MAX_NOTES = 1000;
const MAX_KEYPACKAGES = 20_000;

/** The pools a run of `name` with these settings uses, capped to keep bundles and fixtures small. */
export function fixtureNeeds(name: ScenarioName, s: Settings): FixtureNeeds {
  switch (name) {
    case 'publish':
      return { keyPackages: Math.min(MAX_KEYPACKAGES, publishPoolSize(s)), notes: 0 };
    case 'groups':
    case 'soak': {
      const d = duration(s, 'DURATION', name === 'soak' ? '30m' : '60s');
      return { keyPackages: 0, notes: Math.min(MAX_NOTES, Math.ceil((num(s, 'NOTE_RATE', 5, 0.01) * d.ms) / 1000)) };
    }
    default:
      return { keyPackages: 0, notes: 0 };
  }
}
