import type { PortalConfig } from "./portals";

export { BATCH_DEFAULTS, OPERATING_DEFAULTS } from "./portal-defaults";

/**
 * Values of the config that the Lambdas need at run time, apart from the schemas that check a
 * config file (`config.ts`, which only `cdk synth`, the CLI and the local run load): importing
 * them loads no schema library.
 */

/** The default digest: a bold count of all its events, then each shown event's own message. */
export const DEFAULT_DIGEST_MESSAGE =
  "[b]{{ total }} updates[/b] since {{ since | date }}\n" +
  "{% for e in entries %}{{ e.message }}{% if e.count > 1 %} (×{{ e.count }}){% endif %}{% if e.notified %} [i](notified)[/i]{% endif %}\n{% endfor %}" +
  "{% if more > 0 %}…and {{ more }} more{% endif %}";

/** Time one attempt keeps for the rate-limit wait and for confirming, beyond the Bitrix24 call. */
export const ATTEMPT_OVERHEAD_MS = { rateWait: 2_000, confirm: 3_000 } as const;

/**
 * The shortest lease that covers one whole attempt: a rate-limit wait, a request that runs until
 * our timeout or Bitrix24's own limit, whichever is later, and the confirm.
 */
export const minimumLeaseSeconds = (
  portal: Pick<PortalConfig, "timeoutMs" | "requestLimitSeconds">,
): number =>
  Math.ceil(
    (Math.max(portal.timeoutMs, portal.requestLimitSeconds * 1000) +
      ATTEMPT_OVERHEAD_MS.rateWait +
      ATTEMPT_OVERHEAD_MS.confirm) /
      1000,
  );

/** The retry window plus a day of queue retention must stay within SQS's 14 days. */
export const MAX_RETRY_FOR_SECONDS = 13 * 86_400;

/**
 * Partitions of the table's time-ordered indexes (`due`, `events`; docs/scale.md). Each item goes
 * to one shard by its job id; readers query every shard and merge. More shards spread the index
 * writes over more partitions; a reader makes one query per shard. Only ever raise these: items
 * of a shard no longer counted would no longer be read.
 */
export const INDEX_SHARDS = { due: 4, events: 8 } as const;
