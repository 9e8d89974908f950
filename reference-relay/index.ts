export { startRelay, type RunningRelay } from './server.js';
export { resolveConfig, DEFAULT_CONFIG, type RelayConfig, type RelayOptions } from './config.js';
export { FAULTS, FAULT_NAMES, type FaultName } from './faults.js';
export { ManualClock, systemClock, type Clock } from './clock.js';
export { RelayCore } from './core/relay-core.js';
export { SqliteStore } from './store/sqlite-store.js';
