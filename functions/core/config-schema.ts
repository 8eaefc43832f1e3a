import * as z from "zod";
import {
  DEFAULT_DIGEST_MESSAGE,
  MAX_RETRY_FOR_SECONDS,
  minimumLeaseSeconds,
} from "./config-defaults";
import { NOTIFYING, WHEN_LIMITED } from "./job";
import { formatPath } from "./key-path";
import { DEFAULT_PORTAL_ID, WEEK_SECONDS } from "./portal-defaults";
import {
  bitrixSchema,
  normalisePortals,
  openLineCode,
  type PortalConfig,
  portalId,
  portalSchema,
  type RouteTarget,
  resolveTarget,
} from "./portals";

export { WEEK_SECONDS } from "./portals";

/**
 * The largest `limits.maxBodyBytes`. Lambda takes at most 6 MB of event for a synchronous
 * invocation (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html), and API
 * Gateway may hand the body over base64-encoded (4/3 its size) beside the headers: a larger limit
 * would let API Gateway answer such a body itself, not with hookline's 413.
 */
export const MAX_BODY_BYTES = 4 * 1024 * 1024;

/**
 * Portals whose week is not Bitrix24's 604800 s: a test week, for simulators and tests only (on a
 * real portal it would send a second message in Bitrix24's week). `npm start` and `hookline check`
 * warn about it; `cdk synth` refuses it unless `-c allowTestWeek=true`.
 */
export function testWeeks(config: Pick<Config, "portals">): { key: string; message: string }[] {
  return config.portals.flatMap((portal, index) =>
    portal.weekSeconds === WEEK_SECONDS
      ? []
      : [
          {
            key:
              portal.id === DEFAULT_PORTAL_ID && config.portals.length === 1
                ? "bitrix.weekSeconds"
                : `portals[${index}] ("${portal.id}").weekSeconds`,
            message: `${portal.weekSeconds}, not Bitrix24's ${WEEK_SECONDS}: for simulators and tests only; cdk synth refuses it unless -c allowTestWeek=true`,
          },
        ],
  );
}

/**
 * The configuration file, validated once at start. Secrets are references (`env:NAME` locally,
 * or `secretsmanager:<name or ARN>`), never literals.
 */
export const secretRef = z.string().regex(/^(env:[A-Za-z_][A-Za-z0-9_]*|secretsmanager:.+)$/, {
  message: "must be a secret reference such as env:NAME or secretsmanager:<name>",
});

const secrets = z
  .union([secretRef, z.array(secretRef).min(1)])
  .transform((value) => (Array.isArray(value) ? value : [value]));

const tolerance = z.number().int().positive().max(86_400).default(300);

const sourceId = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/, { message: "must be 1-64 letters, digits, - or _" });

/** Where to find a value in a request: a header, or a dotted JSON path into the payload. */
const locator = z.union([
  z.strictObject({ header: z.string().min(1).toLowerCase() }),
  z.strictObject({ path: z.string().min(1) }),
]);

const githubSource = z.strictObject({
  id: sourceId,
  type: z.literal("github"),
  secret: secrets,
});

const stripeSource = z.strictObject({
  id: sourceId,
  type: z.literal("stripe"),
  secret: secrets,
  toleranceSeconds: tolerance,
});

const standardWebhooksSource = z.strictObject({
  id: sourceId,
  type: z.literal("standard-webhooks"),
  secret: secrets,
  toleranceSeconds: tolerance,
});

const hmacSource = z.strictObject({
  id: sourceId,
  type: z.literal("hmac"),
  secret: secrets,
  /** Header carrying the signature, e.g. `x-signature`. */
  header: z.string().min(1).toLowerCase(),
  algorithm: z.enum(["sha256", "sha1"]).default("sha256"),
  encoding: z.enum(["hex", "base64"]).default("hex"),
  /** Text before the signature in the header, e.g. `sha256=`. */
  prefix: z.string().default(""),
  /** When set, the signed content is `<timestamp>.<raw body>` and the timestamp must be fresh. */
  timestampHeader: z.string().min(1).toLowerCase().optional(),
  toleranceSeconds: tolerance,
  eventId: locator,
  eventName: locator,
});

export const sourceSchema = z.discriminatedUnion("type", [
  githubSource,
  stripeSource,
  standardWebhooksSource,
  hmacSource,
]);

/** A Liquid template string. */
const template = z.string().min(1);

/** An event-name pattern: exact, or with `*` wildcards (`issues.*`, `*`). */
const eventPattern = z.string().regex(/^[A-Za-z0-9_.*:-]+$/, {
  message: "must be an event name or a pattern with * wildcards",
});

export const routeSchema = z.strictObject({
  source: sourceId,
  events: z.array(eventPattern).min(1),
  /** Liquid expression, e.g. `payload.issue.user.login == 'octocat'`; the route matches when truthy. */
  condition: z.string().min(1).optional(),
  userId: template,
  message: template,
  /** ATTACH as JSON; every string inside is a Liquid template. */
  attach: z.unknown().optional(),
  /** KEYBOARD as JSON (link buttons only); every string inside is a Liquid template. */
  keyboard: z.unknown().optional(),
  urlPreview: z.boolean().optional(),
  /**
   * When the user's weekly slot is taken: `digest` (default) adds the event to the user's next
   * weekly digest; `drop` records it as `suppressed`; `notify` sends it at once as a system
   * notification and lists it in the digest too; `notify-only` sends the notification alone
   * (docs/notify.md). The notifying ones need the portal's `im` scope.
   */
  whenLimited: z.enum(WHEN_LIMITED).default("digest"),
  /** The notification's text (a template, BB-code); the route's `message` by default. */
  notify: template.optional(),
  /**
   * The notification's TAG (a template): a new notification with the same tag replaces the
   * user's earlier one, so repeats of one kind collapse. Default `hookline:<route index>`.
   */
  notifyTag: template.optional(),
  /** Which portal and open line send it; either may be left out when there is one choice. */
  to: z
    .strictObject({
      portal: portalId.optional(),
      openLine: portalId.optional(),
      /** Filled in from the portal's lines when the config is read; a value given is ignored. */
      openLineCode: openLineCode.optional(),
    })
    .optional(),
});

/** A duration as seconds, or text such as `24h`, `90m`, `3600s`, `2d`. */
const duration = z.union([
  z.number().int().positive(),
  z
    .string()
    .regex(/^\d+(s|m|h|d)$/, { message: "must be seconds, or text such as 24h, 90m, 2d" })
    .transform((text) => Number(text.slice(0, -1)) * (DURATION_UNITS[text.slice(-1)] ?? 1)),
]);
const DURATION_UNITS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86_400 };

export const digestSchema = z
  .strictObject({
    /** Liquid template over `events` (oldest first), `entries` (repeats folded, with `count`), `total`, `since` and `more`. */
    message: template.default(DEFAULT_DIGEST_MESSAGE),
    /** Events shown in full; the rest are counted in `more`. */
    maxEvents: z.number().int().min(1).max(100).default(20),
  })
  .prefault({});

export const configSchema = z
  .strictObject({
    /** One portal with one open line (the shape of older configs); or `portals`. */
    bitrix: bitrixSchema.optional(),
    portals: z.array(portalSchema).min(1).optional(),
    sources: z.array(sourceSchema).min(1),
    routes: z.array(routeSchema).default([]),
    lookups: z
      .record(z.string(), z.record(z.string(), z.union([z.string(), z.number()])))
      .default({}),
    limits: z
      .strictObject({
        maxBodyBytes: z
          .number()
          .int()
          .positive()
          .max(MAX_BODY_BYTES, {
            message: `must be at most ${MAX_BODY_BYTES} (4 MiB): a larger body never reaches ingest on AWS, whose event Lambda caps at 6 MB with the body base64-encoded`,
          })
          .default(1024 * 1024),
      })
      .prefault({}),
    delivery: z
      .strictObject({
        /** How long a message is retried before it is recorded and moved to the dead-letter queue. */
        retryFor: duration.default(86_400),
        /** Longest wait between two attempts (exponential backoff with full jitter up to this). */
        maxBackoffSeconds: z.number().int().min(1).max(43_200).default(900),
        /** How long one attempt holds the weekly slot; no other attempt may send meanwhile. */
        leaseSeconds: z.number().int().min(10).max(3600).default(120),
      })
      .prefault({}),
    digest: digestSchema,
  })
  .superRefine((config, ctx) => {
    const ids = uniqueIds(config.sources, "source", ctx);
    if (Boolean(config.bitrix) === Boolean(config.portals)) {
      ctx.addIssue({
        code: "custom",
        path: [config.bitrix ? "portals" : "bitrix"],
        message: config.bitrix
          ? "set either bitrix (one portal) or portals, not both"
          : "required: a bitrix block (one portal) or a portals list",
      });
    }
    const portals = normalisePortals(config);
    uniqueIds(portals, "portal", ctx);
    portals.forEach((portal, index) => {
      const minLease = minimumLeaseSeconds(portal);
      if (config.delivery.leaseSeconds < minLease) {
        const where = config.portals ? `portals[${index}]` : "bitrix";
        ctx.addIssue({
          code: "custom",
          path: ["delivery", "leaseSeconds"],
          message: `must be at least ${minLease} s: one attempt is a rate-limit wait, a Bitrix24 request that may run until ${where}.requestLimitSeconds (${portal.requestLimitSeconds} s) or ${where}.timeoutMs (${portal.timeoutMs} ms), and the confirm`,
        });
      }
    });
    if (config.delivery.retryFor > MAX_RETRY_FOR_SECONDS) {
      ctx.addIssue({
        code: "custom",
        path: ["delivery", "retryFor"],
        message: `must be at most ${MAX_RETRY_FOR_SECONDS / 86_400} days (SQS keeps a message 14 days at most)`,
      });
    }
    config.routes.forEach((route, index) => {
      if (!ids.has(route.source)) {
        ctx.addIssue({
          code: "custom",
          path: ["routes", index, "source"],
          message: `no source with id "${route.source}"`,
        });
      }
      for (const key of ["notify", "notifyTag"] as const) {
        if (route[key] !== undefined && !NOTIFYING.includes(route.whenLimited)) {
          ctx.addIssue({
            code: "custom",
            path: ["routes", index, key],
            message: `is used only with whenLimited "notify" or "notify-only" (this route says "${route.whenLimited}")`,
          });
        }
      }
      if (portals.length === 0) return;
      const target = resolveTarget(portals, route.to);
      if ("problem" in target) {
        ctx.addIssue({
          code: "custom",
          path: ["routes", index, "to", target.key],
          message: target.problem,
        });
        return;
      }
      const portalIndex = portals.findIndex((portal) => portal.id === target.portal);
      const portal = portals[portalIndex];
      if (portal && NOTIFYING.includes(route.whenLimited) && !portal.scopes.includes("im")) {
        const where = config.portals ? `portals[${portalIndex}].scopes` : "bitrix.scopes";
        ctx.addIssue({
          code: "custom",
          path: ["routes", index, "whenLimited"],
          message: `"${route.whenLimited}" sends im.notify.system.add, which needs the im scope: portal "${portal.id}" declares ${portal.scopes.join(", ") || "none"}. Grant im to its webhook or app, then add "im" to ${where} (hookline doctor checks it)`,
        });
      }
    });
  })
  // Everything else sees one shape: the portals list, and every route's resolved target.
  .transform(({ bitrix, portals, routes, ...rest }) => {
    const normalised = normalisePortals({ bitrix, portals });
    return {
      ...rest,
      portals: normalised,
      routes: routes.map(({ to, ...route }) => ({
        ...route,
        to: resolveTarget(normalised, to) as RouteTarget,
      })),
    };
  });

// The values the Lambdas need at run time live apart, so they load no schema library.
export {
  ATTEMPT_OVERHEAD_MS,
  DEFAULT_DIGEST_MESSAGE,
  MAX_RETRY_FOR_SECONDS,
  minimumLeaseSeconds,
} from "./config-defaults";

export type Config = z.infer<typeof configSchema>;
export type DigestConfig = z.infer<typeof digestSchema>;
export type SourceConfig = z.infer<typeof sourceSchema>;
export type RouteConfig = Config["routes"][number];
export type { PortalConfig, RouteTarget };

export { formatPath };

/** "required (string)" rather than zod's "Invalid input: expected string, received undefined". */
export const missingKey = (issue: z.core.$ZodRawIssue): string | undefined =>
  issue.code === "invalid_type" && issue.input === undefined
    ? `required (${issue.expected})`
    : undefined;

/** Flags each item whose id an earlier one has (`sources[1].id: duplicate source id "x"`); the ids. */
function uniqueIds(
  items: readonly { id: string }[],
  kind: "source" | "portal",
  ctx: z.RefinementCtx,
): Set<string> {
  const ids = new Set<string>();
  items.forEach((item, index) => {
    if (ids.has(item.id)) {
      ctx.addIssue({
        code: "custom",
        path: [`${kind}s`, index, "id"],
        message: `duplicate ${kind} id "${item.id}"`,
      });
    }
    ids.add(item.id);
  });
  return ids;
}
