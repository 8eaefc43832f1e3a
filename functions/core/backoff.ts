/**
 * Delay before the next attempt of a queue message: the answer's own hint, grown ×1.5 per earlier
 * receive (the Bitrix24 JS SDK's factor), capped, with ±20 % jitter so workers do not retry in step.
 */
export function retryDelayMs(
  hintMs: number,
  receiveCount: number,
  random: () => number = Math.random,
): number {
  const grown = Math.max(hintMs, 1000) * 1.5 ** Math.max(0, receiveCount - 1);
  const capped = Math.min(grown, MAX_RETRY_DELAY_MS);
  return Math.round(capped * (0.8 + 0.4 * random()));
}

/** SQS allows up to 12 h of invisibility; 15 minutes keeps retries within a working session. */
export const MAX_RETRY_DELAY_MS = 15 * 60 * 1000;
