import type { Config } from "../functions/core/config";
import { ATTEMPT_OVERHEAD_MS } from "../functions/core/config-defaults";
import { ConfigError } from "../functions/core/errors";
import { DEFAULT_COMMAND_MS, turnCost } from "../functions/core/pacing";
import type { PortalConfig } from "../functions/core/portals";

/**
 * How much of the account's AWS capacity the stack may use, worked from the config
 * (docs/scale.md works the numbers at 1,000 portals and 10 M webhooks a day).
 */

/**
 * Lambda's concurrency quota per account and region, unless context `accountConcurrency` says it
 * was raised. https://docs.aws.amazon.com/lambda/latest/dg/lambda-concurrency.html
 */
export const ACCOUNT_CONCURRENCY = 1000;

/**
 * Concurrency hookline leaves to the account's other functions and the sweeper. Lambda also keeps
 * 100 unreserved whatever is reserved (same page), so an account never has less to share.
 */
export const OTHER_FUNCTIONS_CONCURRENCY = 100;

/**
 * The SQS event source's maximum concurrency: 2 to 1,000.
 * https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html
 */
export const EVENT_SOURCE_CONCURRENCY = { min: 2, max: 1000 } as const;

/**
 * HTTP API's throttle per account and region (a stage's own throttle never raises it):
 * 10,000 requests/s, burst 5,000. https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-quotas.html
 */
export const HTTP_API_ACCOUNT_THROTTLE = { rateLimit: 10_000, burstLimit: 5_000 } as const;

/**
 * The least default-route throttle: 10 M webhooks a day are 116/s on average, and GitHub does not
 * retry a 429, so a peak of 4× the average must pass. A flood at this rate for an hour costs
 * about $2 in API requests (the ApiNearThrottle alarm warns before senders get 429).
 */
export const API_MIN_THROTTLE = { rateLimit: 500, burstLimit: 1000 } as const;

/**
 * Webhooks per routed message the default throttle is sized for (the cost model's 20 % routed),
 * times a peak of 2: the API takes what every portal's bucket drains, at peak.
 */
const WEBHOOKS_PER_PORTAL_MESSAGE = 5 * 2;

/**
 * Seconds of ingest per webhook at the throttle's rate, for its concurrency: a routed webhook's
 * receipt and enqueue take about 25 ms (`npm run cost -- --assumptions`), with room for a slow one.
 */
export const INGEST_SECONDS_PER_WEBHOOK = 0.04;

export type ApiThrottle = { readonly rateLimit: number; readonly burstLimit: number };

const portalRate = (config: Pick<Config, "portals">): number =>
  config.portals.reduce((sum, portal) => sum + portal.rateLimit.perSecond, 0);

/**
 * The HTTP API's default-route throttle for `config`, unless context `apiRateLimit` /
 * `apiBurstLimit` say otherwise: room for what the portals together drain at the assumed share
 * routed, at peak, never below `API_MIN_THROTTLE` nor above the account's own throttle.
 */
export function defaultApiThrottle(config: Pick<Config, "portals">): ApiThrottle {
  const rateLimit = Math.min(
    HTTP_API_ACCOUNT_THROTTLE.rateLimit,
    Math.max(
      API_MIN_THROTTLE.rateLimit,
      Math.ceil(portalRate(config) * WEBHOOKS_PER_PORTAL_MESSAGE),
    ),
  );
  return {
    rateLimit,
    burstLimit: Math.min(
      HTTP_API_ACCOUNT_THROTTLE.burstLimit,
      Math.max(API_MIN_THROTTLE.burstLimit, 2 * rateLimit),
    ),
  };
}

/** Concurrent ingest instances that take webhooks at the throttle's full rate. */
export const ingestConcurrency = (throttle: ApiThrottle): number =>
  Math.ceil(throttle.rateLimit * INGEST_SECONDS_PER_WEBHOOK);

/**
 * Concurrent deliver invocations: enough workers to use the portals' rates together (a call takes
 * a few hundred ms, so one sequential worker makes about 2 calls/s), never more than they need,
 * and never more than the account has once ingest (at the API's full rate) and other functions
 * have theirs. Each portal's DynamoDB rate limiter, shared by all workers, keeps that portal under
 * its leaky bucket; bounding concurrency keeps workers from spinning on the limiters.
 */
export function deliverConcurrency(
  config: Pick<Config, "portals">,
  throttle: ApiThrottle = defaultApiThrottle(config),
  accountConcurrency: number = ACCOUNT_CONCURRENCY,
): number {
  const room = accountConcurrency - OTHER_FUNCTIONS_CONCURRENCY - ingestConcurrency(throttle);
  if (room < EVENT_SOURCE_CONCURRENCY.min) {
    throw new ConfigError(
      `the API throttle (${throttle.rateLimit}/s) needs ${ingestConcurrency(throttle)} concurrent ingest instances, which leaves deliver fewer than ${EVENT_SOURCE_CONCURRENCY.min} of the account's ${accountConcurrency}: lower -c apiRateLimit, or raise the Lambda concurrency quota and pass -c accountConcurrency`,
    );
  }
  return Math.max(
    EVENT_SOURCE_CONCURRENCY.min,
    Math.min(EVENT_SOURCE_CONCURRENCY.max, room, Math.ceil(portalRate(config))),
  );
}

/**
 * Records per deliver invocation at most: Bitrix24 runs at most 50 commands in one `batch`, so an
 * invocation's messages for one portal (distinct users) fit one request.
 */
export const DELIVER_BATCH_LIMIT = 50;
/**
 * The batch size before batch delivery, kept where no larger size fits the worst case (many
 * portals, one of them hot): no size fits it there, 5 included, and the tail is put back unsent.
 */
export const DELIVER_BATCH_FLOOR = 5;

/**
 * Deliver's SQS batch size for `config` (docs/scale.md, "Deliver's batch size"): the largest, up to
 * {@link DELIVER_BATCH_LIMIT}, for which every message still gets its portal's bucket turn before
 * its latest safe start in the worst case, where all `concurrency` invocations hold nothing but
 * one portal's messages ({@link worstTurnWait}); {@link DELIVER_BATCH_FLOOR} where none does.
 * A message whose turn would come later is never sent late: deliver puts it back unsent.
 *
 * @example deliverBatchSize(config, deliverConcurrency(config)) // 50 for one standard portal
 */
export function deliverBatchSize(
  config: Pick<Config, "portals" | "delivery">,
  concurrency: number,
): number {
  const { leaseSeconds } = config.delivery;
  const fits = (size: number) =>
    config.portals.every((portal) => {
      const { waitMs, maxWaitMs } = worstTurnWait(portal, leaseSeconds, concurrency, size);
      return waitMs <= maxWaitMs;
    });
  for (let size = DELIVER_BATCH_LIMIT; size > DELIVER_BATCH_FLOOR; size--) {
    if (fits(size)) return size;
  }
  return DELIVER_BATCH_FLOOR;
}

/**
 * The longest a message waits for its turn in `portal`'s bucket when `concurrency` invocations of
 * `size` records all hold that portal's messages, and the most it may wait: a turn is taken only
 * if the request can still end (our timeout or Bitrix24's request limit, whichever is later, and
 * the confirm) within the lease, which starts when the wait does (docs/ledger.md, "latest safe
 * start"). The wait is the longer of two paths: a request per message (partner portals,
 * notifications, a claim taken the careful way), the bucket's burst then `perSecond`; and batches
 * of up to `batch.maxMessages` users, gathered for `batch.gatherMs`, each a turn as long as its
 * commands' operating time at the default command cost (the pacing's own estimate).
 */
export function worstTurnWait(
  portal: Pick<PortalConfig, "rateLimit" | "batch" | "timeoutMs" | "requestLimitSeconds">,
  leaseSeconds: number,
  concurrency: number,
  size: number,
): { waitMs: number; maxWaitMs: number } {
  const { perSecond, burst } = portal.rateLimit;
  const requestEndsMs =
    Math.max(portal.timeoutMs, portal.requestLimitSeconds * 1000) + ATTEMPT_OVERHEAD_MS.confirm;
  const alone = (Math.max(0, concurrency * size - burst) / perSecond) * 1000;
  const perBatch = Math.min(size, portal.batch.maxMessages);
  const batches = concurrency * Math.ceil(size / perBatch);
  const turnMs =
    (turnCost({ commands: perBatch, commandMs: DEFAULT_COMMAND_MS }, portal.rateLimit, perSecond) *
      1000) /
    perSecond;
  const batched = portal.batch.gatherMs + (batches - 1) * turnMs;
  return { waitMs: Math.max(alone, batched), maxWaitMs: leaseSeconds * 1000 - requestEndsMs };
}
