import { configFaultRetry, retryAfterAnswer } from "./bitrix-errors";
import type { SendResult } from "./ports";

/**
 * The second channel's decisions (docs/notify.md), pure like the ledger's: what Bitrix24's answer
 * to `im.notify.system.add` means. The notification has no weekly limit and no idempotency key;
 * its TAG makes a repeat replace the earlier notification on the user's screen, so a retry after
 * an unanswered request is safe: at worst the user sees the same notification once, refreshed.
 */

/** The method, as it appears in reasons and logs. */
export const NOTIFY_METHOD = "im.notify.system.add";

export type NotifyAction =
  /** It reached the user: record `notified` (or, for `notify-only`, `sent`). */
  | { do: "notified"; reason: string }
  /**
   * Not now: try again after `hintMs`. `ambiguous`: the request went out without an answer and
   * may have landed (a repeat with the same TAG replaces it). `configFault`: a person must act
   * (the `im` scope, the webhook), the message stays queued meanwhile and an alarm counts it.
   */
  | {
      do: "retry";
      hintMs: number;
      holdPortal: boolean;
      configFault: boolean;
      ambiguous: boolean;
      reason: string;
      code: string;
    }
  /** Refused for good: the notification is given up (the digest still carries a `notify` event). */
  | { do: "rejected"; reason: string; code: string };

/** Codes that say the webhook or app lacks a scope. */
const SCOPE_CODES = new Set(["insufficient_scope", "ACCESS_DENIED"]);

/**
 * What an answer of `im.notify.system.add` means.
 *
 * @example onNotifyAnswer({ kind: "config", code: "insufficient_scope", status: 403 })
 * // => { do: "retry", configFault: true, reason: "… needs the im scope …", … }
 */
export function onNotifyAnswer(result: SendResult): NotifyAction {
  switch (result.kind) {
    case "sent":
      return { do: "notified", reason: "notified (system notification)" };
    case "config":
      return {
        ...configFaultRetry(
          result.code,
          SCOPE_CODES.has(result.code)
            ? `Bitrix24 answered ${result.code} to ${NOTIFY_METHOD}: a configuration fault, the portal's webhook or app needs the im scope`
            : `Bitrix24 answered ${result.code} to ${NOTIFY_METHOD}: a configuration fault`,
        ),
        ambiguous: false,
      };
    case "retry":
      return {
        ...retryAfterAnswer(result, `Bitrix24 answered ${result.code} to ${NOTIFY_METHOD}`),
        ambiguous: false,
      };
    case "ambiguous":
      return {
        do: "retry",
        hintMs: 0,
        holdPortal: false,
        configFault: false,
        ambiguous: true,
        code: result.code,
        reason: `no answer from Bitrix24 to ${NOTIFY_METHOD} (${result.code}); the repeat carries the same TAG, so it replaces rather than duplicates`,
      };
    // No weekly limit applies to this method: a USER_MESSAGE_LIMIT here is as final as a rejection.
    case "limited":
    case "permanent":
      return {
        do: "rejected",
        code: result.code,
        reason: `Bitrix24 rejected the notification: ${result.code}`,
      };
  }
}
