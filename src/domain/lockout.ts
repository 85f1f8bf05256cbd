/**
 * Lockout arithmetic. A guess is "reserved" before the password is checked, so that parallel attempts
 * can never get more guesses than the threshold: the store increments the counter only while it is below
 * the threshold, atomically, and reports the new value.
 */
export interface LockoutPolicy {
  threshold: number;
}

export function isLockedCount(failedCount: number, policy: LockoutPolicy): boolean {
  return failedCount >= policy.threshold;
}

/** The guess that brings the counter to the threshold locks the account. */
export function guessLocks(countAfterGuess: number, policy: LockoutPolicy): boolean {
  return countAfterGuess >= policy.threshold;
}

/** Fixed window start for per-IP failure counting. */
export function windowStart(now: Date, windowMs: number): Date {
  return new Date(Math.floor(now.getTime() / windowMs) * windowMs);
}

/** Milliseconds until the current window ends: what a throttled client is told to wait. */
export function windowRemainingMs(now: Date, windowMs: number): number {
  return windowStart(now, windowMs).getTime() + windowMs - now.getTime();
}
