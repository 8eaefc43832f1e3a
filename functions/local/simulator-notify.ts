import {
  insufficientScope,
  type MethodAnswer,
  methodError,
  positiveInt,
} from "./simulator-answers";

/**
 * The simulated portal's `im.notify.system.add` (docs/notify.md, docs/bitrix24.md): a system
 * notification to a user of the portal, with no weekly limit. It needs the `im` scope, takes
 * `MESSAGE` (BB-code), `ATTACH` (at most 60,000 characters of JSON) and `TAG`, and with an
 * incoming webhook a TAG also needs `CLIENT_ID`. A new notification with the same TAG (of the
 * same client, for the same user) replaces the earlier one: only the newest stays visible.
 */

/** A notification the portal holds for its user. */
export interface ReceivedNotification {
  /** The id the method answered (grows by one per notification). */
  id: number;
  userId: number;
  message: string;
  attach?: unknown;
  /** The TAG as sent, and the client it belongs to (a webhook's CLIENT_ID, or the OAuth app). */
  tag?: string;
  clientId?: string;
  at: number;
  /** How many earlier notifications with this tag it replaced, over time. */
  replaced: number;
}

export interface NotifyMethodOptions {
  /** The webhook's or app's scopes: without `im` the method answers `insufficient_scope`. */
  scopes: readonly string[];
  /** Visible notifications kept (the newest); older ones drop out of the list. */
  kept: number;
  onNotification?: (notification: ReceivedNotification) => void;
}

/** ATTACH's limit in the server's code: 60,000 characters of serialized JSON. */
const MAX_ATTACH_CHARS = 60_000;
const MAX_MESSAGE_CHARS = 20_000;

/**
 * The method and what it has delivered. `call(params, at, auth)` answers one request that passed
 * auth and the bucket; `auth` says whether it came by webhook or by an OAuth app (`client`).
 *
 * @example const notify = notifyMethod({ scopes: ["imopenlines", "im"], kept: 1000 });
 */
export function notifyMethod(options: NotifyMethodOptions) {
  /** The visible notifications, oldest first. */
  const visible: ReceivedNotification[] = [];
  let nextId = 1;
  let delivered = 0;

  function call(
    params: Record<string, unknown>,
    at: number,
    auth: { kind: "webhook" } | { kind: "app"; client: string },
  ): MethodAnswer {
    if (!options.scopes.includes("im")) return insufficientScope();
    const userId = positiveInt(params.USER_ID);
    if (userId === undefined) return methodError("USER_ID_EMPTY", "User ID can't be empty");
    const message = typeof params.MESSAGE === "string" ? params.MESSAGE.trim() : "";
    if (message === "") return methodError("MESSAGE_EMPTY", "Message can't be empty");
    const attach = jsonParam(params.ATTACH);
    if (attach !== undefined) {
      if (typeof attach !== "object" || attach === null) {
        return methodError("ATTACH_ERROR", "Incorrect attach params");
      }
      if (JSON.stringify(attach).length > MAX_ATTACH_CHARS) {
        return methodError(
          "ATTACH_OVERSIZE",
          "You have exceeded the maximum allowable size of attach",
        );
      }
    }
    const tag = typeof params.TAG === "string" && params.TAG !== "" ? params.TAG : undefined;
    const clientId =
      auth.kind === "app"
        ? auth.client
        : typeof params.CLIENT_ID === "string" && params.CLIENT_ID !== ""
          ? params.CLIENT_ID
          : undefined;
    if (tag !== undefined && clientId === undefined) {
      return methodError("CLIENT_ID_EMPTY", "Client ID can't be empty");
    }

    let replaced = 0;
    if (tag !== undefined) {
      for (let index = visible.length - 1; index >= 0; index--) {
        const earlier = visible[index];
        if (earlier?.userId === userId && earlier.tag === tag && earlier.clientId === clientId) {
          replaced += 1 + earlier.replaced;
          visible.splice(index, 1);
        }
      }
    }
    const notification: ReceivedNotification = {
      id: nextId++,
      userId,
      message: [...message].slice(0, MAX_MESSAGE_CHARS).join(""),
      ...(attach !== undefined && { attach }),
      ...(tag !== undefined && { tag }),
      ...(clientId !== undefined && { clientId }),
      at,
      replaced,
    };
    visible.push(notification);
    if (visible.length > options.kept) visible.splice(0, visible.length - options.kept);
    delivered++;
    try {
      options.onNotification?.(notification);
    } catch {
      // A printing hook must not turn a delivered notification into a server error.
    }
    return { status: 200, body: { result: notification.id } };
  }

  return {
    call,
    /** The notifications a user would see now, oldest first (replaced ones are gone). */
    visible,
    /** Every notification accepted, replaced ones included. */
    delivered: () => delivered,
  };
}

export type NotifyMethod = ReturnType<typeof notifyMethod>;

/** ATTACH as a structure or JSON text; empty values count as absent. */
function jsonParam(value: unknown): unknown {
  if (value === undefined || value === null || value === "") return undefined;
  if (typeof value !== "string") return value;
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}
