/**
 * Portal values the Lambdas need at run time, apart from the portal schemas (`portals.ts`, which
 * only config checking loads): importing them loads no schema library.
 */

/** Bitrix24's week, in seconds: one message per user per this long. */
export const WEEK_SECONDS = 604_800;

/**
 * Bitrix24's operating limit as hookline paces by it (docs/bitrix24.md, "Rate limits"): the
 * documented cloud example, 480 s of one method's execution time per 10 minutes.
 */
export const OPERATING_DEFAULTS = { operatingSeconds: 480, operatingWindowSeconds: 600 } as const;

/**
 * Batch delivery (docs/ledger.md, "Batch delivery"): at most this many messages, for distinct
 * users, in one `batch` request (Bitrix24's own limit is 50; 1 sends each message on its own), and
 * how long messages gather when the portal has a backlog (a lone message goes at once).
 */
export const BATCH_DEFAULTS = { maxMessages: 50, gatherMs: 1000 } as const;

/** Bitrix24's own OAuth server, unless a portal names another. */
export const DEFAULT_OAUTH_SERVER = "https://oauth.bitrix.info";

/** The id and line name the single `bitrix` block stands for. */
export const DEFAULT_PORTAL_ID = "default";
export const DEFAULT_LINE_NAME = "default";

/** The portal's first open line: where jobs queued before portals existed go. */
export function defaultLineCode(portal: {
  id: string;
  openLines: Readonly<Record<string, string>>;
}): string {
  const first = Object.values(portal.openLines)[0];
  if (first === undefined) throw new RangeError(`portal ${portal.id} has no open line`);
  return first;
}
