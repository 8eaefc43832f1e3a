import type { Config } from "../functions/core/config";
import { ConfigError } from "../functions/core/errors";

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
