import { Template } from "aws-cdk-lib/assertions";
import { describe, expect, it } from "vitest";
import { ATTEMPT_OVERHEAD_MS } from "../../functions/core/config-defaults";
import { DEADLINE_MARGIN_MS } from "../../functions/deliver/app";
import {
  DELIVER_BATCH_FLOOR,
  DELIVER_BATCH_LIMIT,
  deliverBatchSize,
  deliverConcurrency,
  worstTurnWait,
} from "../../lib/capacity";
import type { HooklineStack } from "../../lib/hookline-stack";
import { manyPortalsConfig } from "./many-portals";
import { buildStack, references, writeConfig } from "./synth";

/**
 * Deliver's SQS batch size against the lease and visibility arithmetic (docs/scale.md, "Deliver's
 * batch size"), read from the synthesized template: the queue, the function and the event source
 * mapping as CloudFormation gets them.
 */
function deployed(stack: HooklineStack) {
  const refs = references(stack);
  const resources = Template.fromStack(stack).toJSON().Resources as Record<
    string,
    { Type: string; Properties?: Record<string, unknown> }
  >;
  const props = (construct: Parameters<typeof refs.id>[0]) =>
    resources[refs.id(construct)]?.Properties ?? {};
  const mapping = Object.values(resources).find(
    (r) => r.Type === "AWS::Lambda::EventSourceMapping",
  );
  return {
    visibilitySeconds: Number(props(stack.queue).VisibilityTimeout),
    timeoutSeconds: Number(props(stack.deliver.fn).Timeout),
    batchSize: Number(mapping?.Properties?.BatchSize),
    windowSeconds: Number(mapping?.Properties?.MaximumBatchingWindowInSeconds),
    concurrency: Number(
      (mapping?.Properties?.ScalingConfig as { MaximumConcurrency?: number } | undefined)
        ?.MaximumConcurrency,
    ),
  };
}

const oneStandardPortal = buildStack();
const generated = manyPortalsConfig({ portals: 1, sources: 1 });
const enterprise = buildStack({
  configPath: writeConfig({
    ...generated,
    portals: generated.portals.map((portal) => ({
      ...portal,
      rateLimit: { perSecond: 5, burst: 250 },
    })),
  }),
});

describe.each([
  ["the shipped fixture (one standard portal)", oneStandardPortal, 50],
  ["one Enterprise portal (5/s, burst 250)", enterprise, 50],
])("deliver's batches, %s", (_name, stack, expected) => {
  const aws = deployed(stack);

  it("are as large as Bitrix24's batch allows when the worst case fits", () => {
    expect(aws.batchSize).toBe(expected);
    expect(aws.batchSize).toBeLessThanOrEqual(DELIVER_BATCH_LIMIT);
  });

  it("keep the queue's visibility timeout at least six times deliver's timeout, and past the gathering window", () => {
    // "set the source queue's visibility timeout to at least six times the configuration timeout
    // on your function": https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html
    expect(aws.visibilitySeconds).toBeGreaterThanOrEqual(6 * aws.timeoutSeconds);
    // A record is received before the event source's window closes: window and run both fit.
    expect(aws.visibilitySeconds).toBeGreaterThanOrEqual(aws.windowSeconds + aws.timeoutSeconds);
  });

  it("have a batching window of at least 1 s, which a batch size over 10 needs", () => {
    // "when you set BatchSize to a value greater than 10, you must set
    // MaximumBatchingWindowInSeconds to at least 1":
    // https://docs.aws.amazon.com/lambda/latest/api/API_CreateEventSourceMapping.html
    if (aws.batchSize > 10) expect(aws.windowSeconds).toBeGreaterThanOrEqual(1);
    expect(aws.windowSeconds).toBeLessThanOrEqual(300);
  });

  it("give every message its turn before its latest safe start, all invocations on one portal", () => {
    const { leaseSeconds } = stack.config.delivery;
    for (const portal of stack.config.portals) {
      // The lease, not the Lambda's deadline, bounds the wait: a lease starting after the
      // gathering still ends before deliver stops (its timeout minus the handler's margin).
      expect(leaseSeconds * 1000 + portal.batch.gatherMs).toBeLessThanOrEqual(
        aws.timeoutSeconds * 1000 - DEADLINE_MARGIN_MS,
      );
      const { waitMs, maxWaitMs } = worstTurnWait(
        portal,
        leaseSeconds,
        aws.concurrency,
        aws.batchSize,
      );
      // The latest safe start: the lease's end minus the request limit and the confirm.
      expect(maxWaitMs).toBe(
        leaseSeconds * 1000 -
          Math.max(portal.timeoutMs, portal.requestLimitSeconds * 1000) -
          ATTEMPT_OVERHEAD_MS.confirm,
      );
      expect(waitMs).toBeLessThanOrEqual(maxWaitMs);
    }
  });
});

describe("deliver's batch size", () => {
  it("is the largest that fits, with the figures docs/scale.md works", () => {
    const [portal] = oneStandardPortal.config.portals;
    if (!portal) throw new Error("no portal");
    // Defaults: lease 120 s, request limit 60 s, confirm 3 s: 57 s to wait for a turn. Two
    // invocations of 50: 100 requests, 50 of them in the burst, the rest at 2/s: 25 s; or two
    // batches of 50 (one turn of 50 × 50 ms operating time each, ≈ 3.3 s) after 1 s gathering.
    expect(worstTurnWait(portal, 120, 2, 50)).toEqual({ waitMs: 25_000, maxWaitMs: 57_000 });
    // Two standard portals (concurrency 4): 50 each would wait 75 s; 41 each, 57 s.
    expect(worstTurnWait(portal, 120, 4, 50).waitMs).toBe(75_000);
    expect(deliverBatchSize(oneStandardPortal.config, 4)).toBe(41);
  });

  it("stays at 5 where no size fits the hot-portal worst case (1,000 portals)", () => {
    const config = buildStack({
      configPath: writeConfig(manyPortalsConfig({ portals: 1000, sources: 10 })),
    }).config;
    const concurrency = deliverConcurrency(config);
    expect(deliverBatchSize(config, concurrency)).toBe(DELIVER_BATCH_FLOOR);
    const [portal] = config.portals;
    if (!portal) throw new Error("no portal");
    const { waitMs, maxWaitMs } = worstTurnWait(portal, 120, concurrency, 1);
    expect(waitMs).toBeGreaterThan(maxWaitMs);
  });
});
