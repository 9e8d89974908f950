/** k6 entry of the `publish` load scenario (bundled by load/build.ts into load/dist/publish.js). */
import { publishScenario } from '../../scenarios/publish.js';
import { k6Script } from '../script.js';

const script = k6Script(publishScenario);

export const options = script.options;
export const setup = script.setup;
export const teardown = script.teardown;
export const handleSummary = script.handleSummary;
export const publishers = script.role('publishers');
// Runs when k6 is given --vus/--duration/--iterations, which replace options.scenarios.
export default publishers;
