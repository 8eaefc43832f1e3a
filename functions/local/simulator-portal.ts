import type { ServerResponse } from "node:http";
import * as z from "zod";

/**
 * What the simulated portal is like beyond its open lines, as docs/bitrix24.md describes
 * Bitrix24 in 2026, and the faults a gateway in front of it adds. Kept apart from the method's
 * dispatcher (bitrix-simulator.ts) so each concern reads on its own.
 */
export interface PortalTraits {
  /** The imbot module is installed; without it the method answers `IMBOT_ERROR`. */
  imbot: boolean;
  /** A portal from before 2026-03: a wrong open line code answers `CODE_ERROR`, not `CODE`. */
  olderErrorCodes: boolean;
  /** Blocked by Bitrix24 support: every REST call answers 503 `OVERLOAD_LIMIT` until lifted. */
  overloaded: boolean;
}

export const portalTraitsSchema = z.strictObject({
  imbot: z.boolean().optional(),
  olderErrorCodes: z.boolean().optional(),
  overloaded: z.boolean().optional(),
});
export type PortalTraitsChange = z.infer<typeof portalTraitsSchema>;

/**
 * Run the method (its usual checks; a success lands and uses the week), then answer as a gateway
 * would: a 502/504, or a 500 with an HTML page, and no Bitrix24 envelope. "A 5xx whose request ran."
 */
export const ranThenGatewayFault = z.strictObject({
  status: z.union([z.literal(500), z.literal(502), z.literal(504)]),
  ran: z.literal(true),
  body: z.string().optional(),
});

/** The send itself fails after every check passed: `WRONG_REQUEST` ("message not added"). */
export const sendFailsFault = z.strictObject({ sendFails: z.literal(true) });

/** The code a wrong open line code answers on this portal. */
export const wrongCodeError = (traits: PortalTraits): string =>
  traits.olderErrorCodes ? "CODE_ERROR" : "CODE";

/**
 * Session (browser) auth: a `sessid` and no access token. The method is not callable that way
 * (`WRONG_AUTH_TYPE`, 403); incoming webhooks and OAuth are.
 */
export const isSessionAuth = (params: Record<string, unknown>): boolean =>
  params.SESSID !== undefined && params.AUTH === undefined;

const GATEWAY_TITLES: Record<number, string> = {
  500: "500 Internal Server Error",
  502: "502 Bad Gateway",
  504: "504 Gateway Time-out",
};

/** A gateway's error page, as nginx in front of a portal serves it. */
export function sendGatewayPage(res: ServerResponse, status: number, body?: string): void {
  if (res.destroyed) return;
  const title = GATEWAY_TITLES[status] ?? `${status} Error`;
  res.writeHead(status, { "content-type": "text/html; charset=utf-8" });
  res.end(
    body ??
      `<html>\r\n<head><title>${title}</title></head>\r\n<body>\r\n<center><h1>${title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n`,
  );
}
