/** k6 entry of the `rate` load scenario (bundled by load/build.ts into load/dist/rate.js). */
import { rateScenario } from '../../scenarios/rate.js';
import { k6Script } from '../script.js';

const script = k6Script(rateScenario);

export const options = script.options;
export const setup = script.setup;
export const teardown = script.teardown;
export const handleSummary = script.handleSummary;
export const requesters = script.role('requesters');
// Runs when k6 is given --vus/--duration/--iterations, which replace options.scenarios.
export default requesters;
