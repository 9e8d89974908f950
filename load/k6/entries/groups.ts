/** k6 entry of the `groups` load scenario (bundled by load/build.ts into load/dist/groups.js). */
import { groupsScenario } from '../../scenarios/groups.js';
import { k6Script } from '../script.js';

const script = k6Script(groupsScenario);

export const options = script.options;
export const setup = script.setup;
export const teardown = script.teardown;
export const handleSummary = script.handleSummary;
export const inviters = script.role('inviters');
export const members = script.role('members');
export const chatters = script.role('chatters');
// Runs when k6 is given --vus/--duration/--iterations, which replace options.scenarios.
export default inviters;
