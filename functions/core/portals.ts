import * as z from "zod";
import {
  BATCH_DEFAULTS,
  DEFAULT_LINE_NAME,
  DEFAULT_OAUTH_SERVER,
  DEFAULT_PORTAL_ID,
  OPERATING_DEFAULTS,
  WEEK_SECONDS,
} from "./portal-defaults";

// The values the Lambdas need at run time live apart, so they load no schema library.
export {
  DEFAULT_LINE_NAME,
  DEFAULT_OAUTH_SERVER,
  DEFAULT_PORTAL_ID,
  defaultLineCode,
  WEEK_SECONDS,
} from "./portal-defaults";

/**
 * Bitrix24 portals in the config: the `portals` list, or the single `bitrix` block of older
 * configs, which is one portal (`default`) with one open line (`default`). After parsing, every
 * part of hookline sees only the normalised list.
 */

const secretRefPattern = /^(env:[A-Za-z_][A-Za-z0-9_]*|secretsmanager:.+)$/;
const secretRef = z.string().regex(secretRefPattern, {
  message: "must be a secret reference such as env:NAME or secretsmanager:<name>",
});

const OPEN_LINE_CODE_HINT =
  "the 32-character code of the open line that sends the messages, e.g. ab515f5d85a8b844d484f6ea75a2e494 (see README, Bitrix24 setup)";

export const openLineCode = z
  .string({
    error: (issue) =>
      issue.input === undefined
        ? `required: ${OPEN_LINE_CODE_HINT}`
        : `must be ${OPEN_LINE_CODE_HINT}`,
  })
  .regex(/^[A-Za-z0-9]{32}$/, { message: `must be ${OPEN_LINE_CODE_HINT}` });

export const portalId = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/, { message: "must be 1-64 letters, digits, - or _" });

/** What every portal sets the same way, with the same defaults. */
const portalSettings = {
  /** The portal's leaky bucket (standard plans: burst 50, 2/s; Enterprise: 250, 5/s). */
  rateLimit: z
    .strictObject({
      perSecond: z.number().positive().max(100).default(2),
      burst: z.number().int().positive().max(1000).default(50),
      /**
       * Bitrix24's operating limit: seconds of one method's execution time per
       * `operatingWindowSeconds` (the cloud's documented example: 480 per 600).
       */
      operatingSeconds: z
        .number()
        .positive()
        .max(3600)
        .default(OPERATING_DEFAULTS.operatingSeconds),
      operatingWindowSeconds: z
        .number()
        .int()
        .min(10)
        .max(3600)
        .default(OPERATING_DEFAULTS.operatingWindowSeconds),
    })
    .refine((rate) => rate.operatingSeconds <= rate.operatingWindowSeconds, {
      message: "operatingSeconds must not exceed operatingWindowSeconds",
      path: ["operatingSeconds"],
    })
    .prefault({}),
  /**
   * Batch delivery: up to `maxMessages` messages for distinct users in one `batch` request when
   * the portal has a backlog, gathered for at most `gatherMs`; 1 sends each message on its own.
   */
  batch: z
    .strictObject({
      maxMessages: z.number().int().min(1).max(50).default(BATCH_DEFAULTS.maxMessages),
      gatherMs: z.number().int().min(0).max(1000).default(BATCH_DEFAULTS.gatherMs),
    })
    .prefault({}),
  /** `false` for partner (NFR) portals, which have no weekly limit. */
  weeklyLimit: z.boolean().default(true),
  /** How long one REST call may take before it counts as timed out. */
  timeoutMs: z.number().int().min(100).max(60_000).default(8000),
  /** Bitrix24's window: one message per user per this many seconds. Change only for tests. */
  weekSeconds: z.number().int().min(10).max(WEEK_SECONDS).default(WEEK_SECONDS),
  /** Bitrix24 finishes or drops a request within this time (its documented 60 s). */
  requestLimitSeconds: z.number().int().min(1).max(120).default(60),
  /** Extra wait after our record says the week is over: Bitrix24's clock and ours differ. */
  weekMarginSeconds: z.number().int().min(0).max(86_400).default(300),
  /**
   * The scopes the portal's webhook or app was granted: `imopenlines` always; `im` for routes
   * that notify (docs/notify.md). `hookline check` and `cdk synth` read them, `hookline doctor`
   * checks them against the portal.
   */
  scopes: z
    .array(z.string().regex(/^[a-z_.]+$/, { message: "must be a Bitrix24 scope, e.g. im" }))
    .default(["imopenlines"])
    .refine((scopes) => scopes.includes("imopenlines"), {
      message: "must include imopenlines (the open-line messages need it)",
    }),
};

const oauthSchema = z.strictObject({
  clientId: secretRef,
  clientSecret: secretRef,
  /** The refresh token the app starts with; hookline stores the rotated ones in DynamoDB. */
  refreshToken: secretRef,
  server: z.url({ protocol: /^https?$/ }).default(DEFAULT_OAUTH_SERVER),
  /** A refresh at least this often keeps the 180-day refresh token alive. */
  keepAliveDays: z.number().int().min(1).max(60).default(3),
});

export const portalSchema = z
  .strictObject({
    id: portalId,
    /** Incoming-webhook base URL, e.g. https://portal/rest/1/abc/ (a secret). */
    webhookUrl: secretRef.optional(),
    /** The portal's address, e.g. https://example.bitrix24.com: where an OAuth app calls. */
    url: z.url({ protocol: /^https?$/ }).optional(),
    oauth: oauthSchema.optional(),
    /** Named open lines of this portal: `{ "support": "<32-character code>" }`. */
    openLines: z
      .record(portalId, openLineCode)
      .refine((lines) => Object.keys(lines).length > 0, { message: "name at least one open line" }),
    ...portalSettings,
  })
  .superRefine((portal, ctx) => {
    if (portal.webhookUrl && portal.oauth) {
      ctx.addIssue({
        code: "custom",
        path: ["oauth"],
        message: "set either webhookUrl or oauth, not both",
      });
    }
    if (portal.url && !portal.oauth) {
      ctx.addIssue({
        code: "custom",
        path: ["url"],
        message: "is for OAuth portals: add an oauth block, or use webhookUrl",
      });
    }
  });

/** The single-portal block of older configs: one portal with one open line. */
export const bitrixSchema = z
  .strictObject({
    webhookUrl: secretRef.optional(),
    /** Reserved in older configs; OAuth apps go in `portals` with an `oauth` block. */
    auth: z.unknown().optional(),
    openLineCode,
    ...portalSettings,
  })
  .refine((bitrix) => bitrix.auth === undefined, {
    message: "OAuth apps are configured in portals[] with an oauth block (see README, OAuth app)",
    path: ["auth"],
  });

export type PortalInput = z.infer<typeof portalSchema>;
export type BitrixInput = z.infer<typeof bitrixSchema>;

/** One portal as hookline uses it, whichever way the config wrote it. */
export type PortalConfig = Omit<PortalInput, "openLines"> & {
  /** Line names to codes; the first one is the portal's default line. */
  openLines: Readonly<Record<string, string>>;
};

/** The portals of a config, from `portals` or from the single `bitrix` block. */
export function normalisePortals(config: {
  bitrix?: BitrixInput | undefined;
  portals?: PortalInput[] | undefined;
}): PortalConfig[] {
  if (config.portals) return config.portals;
  if (!config.bitrix) return [];
  const { openLineCode: code, auth: _auth, ...settings } = config.bitrix;
  return [{ id: DEFAULT_PORTAL_ID, ...settings, openLines: { [DEFAULT_LINE_NAME]: code } }];
}

/** Where a route sends: a portal and one of its open lines. */
export interface RouteTarget {
  portal: string;
  openLine: string;
  openLineCode: string;
}

/**
 * Resolves a route's `to` against the portals: each part may be left out when there is only one
 * choice. Returns the target, or the problem with the key it belongs to.
 */
export function resolveTarget(
  portals: readonly PortalConfig[],
  to: { portal?: string | undefined; openLine?: string | undefined } | undefined,
): RouteTarget | { key: "portal" | "openLine"; problem: string } {
  const ids = portals.map((portal) => portal.id);
  let portal: PortalConfig | undefined;
  if (to?.portal !== undefined) {
    portal = portals.find((candidate) => candidate.id === to.portal);
    if (!portal) {
      return {
        key: "portal",
        problem: `no portal with id "${to.portal}" (portals: ${ids.join(", ")})`,
      };
    }
  } else if (portals.length === 1) {
    portal = portals[0];
  } else {
    return {
      key: "portal",
      problem: `required: this config has ${portals.length} portals (${ids.join(", ")})`,
    };
  }
  if (!portal) return { key: "portal", problem: "required: the config has no portal" };
  const lines = Object.keys(portal.openLines);
  const openLine = to?.openLine ?? (lines.length === 1 ? lines[0] : undefined);
  if (openLine === undefined) {
    return {
      key: "openLine",
      problem: `required: portal "${portal.id}" has ${lines.length} open lines (${lines.join(", ")})`,
    };
  }
  const code = portal.openLines[openLine];
  if (code === undefined) {
    return {
      key: "openLine",
      problem: `portal "${portal.id}" has no open line "${openLine}" (lines: ${lines.join(", ")})`,
    };
  }
  return { portal: portal.id, openLine, openLineCode: code };
}
