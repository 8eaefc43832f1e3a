import type { OperatingReport } from "./ports";

/**
 * Pacing by Bitrix24's two limits (docs/bitrix24.md, "Rate limits"; docs/ledger.md, "Batch
 * delivery"): the leaky bucket counts requests (a `batch` of 50 commands is one), the operating
 * limit counts each command's execution time per method over a sliding window. hookline books a
 * request in its shared bucket (the rate limiter) for at least one interval, and for as many
 * intervals as the request's operating time takes at a safe share of the operating budget: so a
 * full window never spends more than the budget, whatever the batch sizes.
 */

/** The portal's operating budget: `rateLimit.operatingSeconds` per `operatingWindowSeconds`. */
export interface OperatingBudget {
  operatingSeconds: number;
  operatingWindowSeconds: number;
}

/**
 * The share of the operating budget hookline spends at most on average. The rest covers the
 * bucket's burst credit (booked ahead of the window) and estimates of a command's cost that run low.
 */
export const OPERATING_SHARE = 0.95;

/**
 * How many bucket intervals one request books: 1 for the bucket's token, more when its commands'
 * operating time at the safe share of the budget takes longer than one interval.
 *
 * @example turnCost({ commands: 50, commandMs: 50 }, budget, 2) // 6.58: 2.5 s of operating time
 */
export function turnCost(
  request: { commands: number; commandMs: number },
  budget: OperatingBudget,
  perSecond: number,
): number {
  const operatingPerMs =
    (OPERATING_SHARE * budget.operatingSeconds) / budget.operatingWindowSeconds;
  const operatingMs = request.commands * request.commandMs;
  const intervalMs = 1000 / perSecond;
  return Math.max(1, operatingMs / operatingPerMs / intervalMs);
}

/**
 * Slow down before 429: when the latest answer says the method's window is nearly spent (its
 * operating time plus what one more full request adds reaches the budget), every worker waits
 * until the window's oldest basket drops out. `undefined`: go on.
 */
export function operatingHoldMs(
  report: OperatingReport | undefined,
  budget: OperatingBudget,
  headroomSeconds: number,
  nowMs: number,
): number | undefined {
  if (!report || report.resetAtMs <= nowMs) return undefined;
  if (report.operatingSeconds + headroomSeconds < budget.operatingSeconds) return undefined;
  return report.resetAtMs - nowMs;
}

/**
 * The cost of one command as the answers show it (its execution time, `result_time[…].duration`
 * or a single call's `time.duration`); until an answer says, {@link DEFAULT_COMMAND_MS}.
 */
export const DEFAULT_COMMAND_MS = 50;
