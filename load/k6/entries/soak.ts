/** k6 entry of the `soak` load scenario (bundled by load/build.ts into load/dist/soak.js). */
import { soakScenario } from '../../scenarios/soak.js';
import { k6Script } from '../script.js';

const script = k6Script(soakScenario);

export const options = script.options;
export const setup = script.setup;
export const teardown = script.teardown;
export const handleSummary = script.handleSummary;
export const inviters = script.role('inviters');
export const members = script.role('members');
export const chatters = script.role('chatters');
export const watcher = script.role('watcher');
// Runs when k6 is given --vus/--duration/--iterations, which replace options.scenarios.
export default inviters;
