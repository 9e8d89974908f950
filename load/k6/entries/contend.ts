/** k6 entry of the `contend` load scenario (bundled by load/build.ts into load/dist/contend.js). */
import { contendScenario } from '../../scenarios/contend.js';
import { k6Script } from '../script.js';

const script = k6Script(contendScenario);

export const options = script.options;
export const setup = script.setup;
export const teardown = script.teardown;
export const handleSummary = script.handleSummary;
export const racers = script.role('racers');
// Runs when k6 is given --vus/--duration/--iterations, which replace options.scenarios.
export default racers;
