/**
 * Bitrix24's operating limit as the simulator keeps it (docs/bitrix24.md, "Rate limits"): the
 * execution time each method spent, in ten baskets spanning `windowSeconds`. The check runs before
 * a call; the call that crosses `limitSeconds` finishes, the next gets 429 `OPERATION_TIME_LIMIT`.
 * Every answer's `time` block reports the method's `operating` and `operating_reset_at` (when its
 * oldest basket drops out).
 */
export interface OperatingLimit {
  /** Execution time a method may spend per window (Bitrix24's documented example: 480 s). */
  limitSeconds: number;
  /** The window (Bitrix24: 600 s, ten one-minute baskets). */
  windowSeconds: number;
  /** What one call (one command of a batch) costs; default 50 ms. */
  costMs: number;
}

export const DEFAULT_OPERATING: OperatingLimit = {
  limitSeconds: 480,
  windowSeconds: 600,
  costMs: 50,
};

const BASKETS = 10;

export interface OperatingMeter {
  /** True when `method` may not run now: its window is spent. */
  exhausted(method: string, at: number): boolean;
  /** Bills one call of `method` started at `at`. */
  spend(method: string, at: number): void;
  /** What the `time` block says of `method` now: seconds spent, when the oldest basket resets. */
  report(method: string, at: number): { operating: number; operating_reset_at: number };
}

/** @example const meter = makeOperatingMeter(DEFAULT_OPERATING); meter.spend(method, Date.now()); */
export function makeOperatingMeter(limit: OperatingLimit): OperatingMeter {
  const basketMs = (limit.windowSeconds * 1000) / BASKETS;
  /** Per method: basket index → milliseconds spent in it. */
  const spent = new Map<string, Map<number, number>>();

  /** The method's live baskets (older ones dropped), oldest first. */
  function live(method: string, at: number): [number, number][] {
    const baskets = spent.get(method);
    if (!baskets) return [];
    const current = Math.floor(at / basketMs);
    for (const index of baskets.keys()) if (index <= current - BASKETS) baskets.delete(index);
    return [...baskets.entries()].sort(([a], [b]) => a - b);
  }
  const total = (method: string, at: number) =>
    live(method, at).reduce((sum, [, ms]) => sum + ms, 0);

  return {
    exhausted: (method, at) => total(method, at) >= limit.limitSeconds * 1000,
    spend(method, at) {
      const baskets = spent.get(method) ?? new Map<number, number>();
      spent.set(method, baskets);
      const index = Math.floor(at / basketMs);
      baskets.set(index, (baskets.get(index) ?? 0) + limit.costMs);
    },
    report(method, at) {
      const baskets = live(method, at);
      const oldest = baskets[0]?.[0] ?? Math.floor(at / basketMs);
      return {
        operating: baskets.reduce((sum, [, ms]) => sum + ms, 0) / 1000,
        operating_reset_at: ((oldest + BASKETS) * basketMs) / 1000,
      };
    },
  };
}
