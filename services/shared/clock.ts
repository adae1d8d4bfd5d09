/** The time as the code that keeps it reads it: injected, so that a test moves it by hand instead of sleeping. */
export interface Clock {
  /** Milliseconds since the epoch, as `Date.now()`. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };
