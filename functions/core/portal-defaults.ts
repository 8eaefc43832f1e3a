/**
 * Portal values the Lambdas need at run time, apart from the portal schemas (`portals.ts`, which
 * only config checking loads): importing them loads no schema library.
 */

/** Bitrix24's week, in seconds: one message per user per this long. */
export const WEEK_SECONDS = 604_800;

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
