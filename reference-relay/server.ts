// placeholder: replaced by the real server in the next commit
import type { RelayOptions } from './config.js';
export interface RunningRelay { url: string; httpUrl: string; port: number; close(): Promise<void> }
export async function startRelay(_opts: RelayOptions = {}): Promise<RunningRelay> {
  throw new Error('not yet');
}
