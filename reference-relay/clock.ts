/** The relay reads time only through a Clock, so tests can move it. */
export interface Clock {
  /** Unix time in milliseconds. */
  nowMs(): number;
}

export const systemClock: Clock = { nowMs: () => Date.now() };

/** A clock that moves only when told to. */
export class ManualClock implements Clock {
  constructor(private ms = Date.now()) {}
  nowMs(): number {
    return this.ms;
  }
  advanceSeconds(seconds: number): void {
    this.ms += seconds * 1000;
  }
}

export function nowSecondsOf(clock: Clock): number {
  return Math.floor(clock.nowMs() / 1000);
}
