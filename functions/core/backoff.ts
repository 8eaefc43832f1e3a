/** The first retry waits up to this long; each further one doubles the ceiling. */
export const BASE_BACKOFF_MS = 1000;

/**
 * Delay before the next attempt of a queue message: exponential backoff with full jitter
 * (a random wait up to `min(cap, base × 2^(receive − 1))`), never shorter than the answer's own
 * hint (e.g. 429's `operating_reset_at`), never longer than the cap.
 *
 * @example retryDelayMs(1500, 3, 900_000) // somewhere in [1500, 4000] ms
 */
export function retryDelayMs(
  hintMs: number,
  receiveCount: number,
  capMs: number,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(capMs, BASE_BACKOFF_MS * 2 ** Math.max(0, receiveCount - 1));
  return Math.round(Math.min(capMs, Math.max(hintMs, random() * ceiling)));
}

/**
 * How long the whole portal is held back after its `failures`-th failure in a row (no jitter:
 * one shared clock for every worker), at least the answer's hint, at most the cap.
 */
export function portalBackoffMs(hintMs: number, failures: number, capMs: number): number {
  const grown = BASE_BACKOFF_MS * 2 ** Math.max(0, failures);
  return Math.min(capMs, Math.max(hintMs, grown));
}
