import type { Clock } from "./clock";
import type { DeliveryAttempt, DeliveryResult } from "./deliver";
import { outcomeRecord } from "./outcome";
import type { OutcomeStore } from "./ports";

export type Deliver = (attempt: DeliveryAttempt) => Promise<DeliveryResult>;

export interface PortalRouterDeps {
  /** Each portal's deliver, built on first use. The first portal takes jobs that name none. */
  portals: ReadonlyMap<string, () => Promise<Deliver>>;
  outcomes: Pick<OutcomeStore, "finish">;
  clock: Clock;
}

/**
 * Hands each queue message to its portal's deliver: every portal has its own rate limiter,
 * circuit breaker and Bitrix24 client, so one portal's outage never slows another. Jobs queued
 * before portals existed (versions 1 and 2) go to the first portal. A job for a portal the config
 * no longer has is recorded `failed` and dead-lettered, never dropped.
 *
 * @example const deliver = routeToPortals({ portals, outcomes, clock });
 */
export function routeToPortals({ portals, outcomes, clock }: PortalRouterDeps): Deliver {
  const first = [...portals.keys()][0];
  return async (attempt) => {
    const { message } = attempt;
    const portal = message.portal ?? first ?? "";
    const deliver = portals.get(portal);
    if (deliver) return (await deliver())(attempt);
    const reason = `portal "${portal}" is not in the config`;
    if (message.kind === "event") {
      await outcomes.finish(
        outcomeRecord(message, { outcome: "failed", reason, at: clock.now(), exhausted: true }),
      );
    }
    return { status: "dead-letter", reason };
  };
}
