import { SpanKind, SpanStatusCode } from "@opentelemetry/api";
import { InMemorySpanExporter, type ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeOtelTracing } from "../../functions/adapters/otel-tracing";
import type { Tracing } from "../../functions/adapters/tracing";
import { jobIdFor } from "../../functions/core/job";
import { DEFAULT_PORTAL_ID } from "../../functions/core/portal-defaults";
import { postWebhook, startTestBridge, TEST_SECRETS, testConfig } from "../support/bridge";
import { issueOpened } from "../support/lambda-bundles";
import { githubRequest, type SignedRequest, standardWebhookRequest } from "../support/signers";

/**
 * One signed webhook through the local bridge (the Lambdas' handlers over the in-process queue)
 * yields one connected OpenTelemetry trace: ingest's server span, deliver's consumer span as its
 * child (the trace context rode in the queue message's attributes), and a client span per
 * Bitrix24 call under deliver's, with the call's facts as attributes (docs/tracing.md).
 */

type Bridge = Awaited<ReturnType<typeof startTestBridge>>;

/** The user `lookups.githubUsers` maps the example's sender (Codertocat) to. */
const GITHUB_USER = 7;

describe("one trace per webhook event (local bridge, in-memory exporter)", () => {
  const exporter = new InMemorySpanExporter();
  let tracing: Tracing;
  let bridge: Bridge;

  beforeAll(async () => {
    tracing = makeOtelTracing({ exporter, serviceName: "hookline" });
    bridge = await startTestBridge(testConfig(), { tracing });
  });
  afterAll(async () => {
    await bridge?.close();
    await tracing?.shutdown();
  });

  /** Posts one signed webhook, waits until the queue has settled it, and returns the spans. */
  const deliverOne = async (sourceId: string, request: SignedRequest, userId: number) => {
    exporter.reset();
    const answer = await postWebhook(bridge, sourceId, request);
    expect(answer).toMatchObject({ status: 202, body: { status: "accepted", messages: 1 } });
    await bridge.queue.idle();
    expect(bridge.simulator?.messages.filter((m) => m.userId === userId)).toHaveLength(1);
    await tracing.flush();
    return exporter.getFinishedSpans();
  };

  const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;
  const idOf = (span: ReadableSpan) => span.spanContext().spanId;
  const traceOf = (span: ReadableSpan) => span.spanContext().traceId;
  const ofKind = (spans: readonly ReadableSpan[], kind: SpanKind) =>
    spans.filter((span) => span.kind === kind);

  it("links ingest -> deliver -> the Bitrix24 call in one trace, with the call's attributes", async () => {
    const request = await githubRequest(TEST_SECRETS.GITHUB_SECRET, "issues", issueOpened("t"));
    const spans = await deliverOne("github", request, GITHUB_USER);
    const delivery = request.headers["x-github-delivery"] as string;
    expect(await bridge.outcome(jobIdFor("github", delivery, 0))).toBe("sent");

    const [ingest, ...moreIngest] = ofKind(spans, SpanKind.SERVER);
    expect(moreIngest).toHaveLength(0);
    expect(ingest?.name).toBe("ingest");
    expect(parentOf(ingest as ReadableSpan)).toBeUndefined();
    expect(ingest?.attributes).toMatchObject({
      "hookline.source": "github",
      "hookline.ingest": "accepted",
      "hookline.event_id": delivery,
      "http.response.status_code": 202,
    });

    const [deliver, ...moreDeliver] = ofKind(spans, SpanKind.CONSUMER);
    expect(moreDeliver).toHaveLength(0);
    expect(traceOf(deliver as ReadableSpan)).toBe(traceOf(ingest as ReadableSpan));
    expect(parentOf(deliver as ReadableSpan)).toBe(idOf(ingest as ReadableSpan));
    expect(deliver?.attributes).toMatchObject({
      "messaging.system": "aws_sqs",
      "hookline.delivery": "done",
      "hookline.receive_count": 1,
    });

    const [call, ...moreCalls] = ofKind(spans, SpanKind.CLIENT);
    expect(moreCalls).toHaveLength(0);
    expect(traceOf(call as ReadableSpan)).toBe(traceOf(ingest as ReadableSpan));
    expect(parentOf(call as ReadableSpan)).toBe(idOf(deliver as ReadableSpan));
    expect(call?.name).toBe("Bitrix24 imopenlines.network.message.add");
    expect(call?.attributes).toMatchObject({
      "bitrix24.portal": DEFAULT_PORTAL_ID,
      "bitrix24.method": "imopenlines.network.message.add",
      "http.response.status_code": 200,
      "hookline.bitrix24.result": "sent",
      // The simulator's time block, as Bitrix24 answers it.
      "bitrix24.time.operating": 0.05,
      "bitrix24.time.operating_reset_at": expect.any(Number),
    });
    expect(call?.attributes["bitrix24.error_code"]).toBeUndefined();
    expect(call?.status.code).not.toBe(SpanStatusCode.ERROR);
    // The webhook URL (a secret) is in no span.
    const webhookUrl = bridge.simulator?.webhookUrl ?? "";
    expect(webhookUrl).not.toBe("");
    expect(JSON.stringify(spans.map((span) => span.attributes))).not.toContain(
      new URL(webhookUrl).pathname,
    );
  });

  it("keeps a retried message in its trace: each receive a deliver span, each call its answer", async () => {
    const resetAt = Math.floor(Date.now() / 1000) + 1;
    bridge.simulator?.inject({
      status: 429,
      body: JSON.stringify({
        error: "OPERATION_TIME_LIMIT",
        error_description: "Method is blocked due to operation time limit.",
        time: { operating: 480.25, operating_reset_at: resetAt },
      }),
    });
    // A user of its own: the first test's message took user 7's week.
    const order = { type: "order.paid", data: { orderId: "o-1", bitrixUserId: 8001, note: "x" } };
    const request = standardWebhookRequest(TEST_SECRETS.APP_SECRET, order);
    const spans = await deliverOne("app", request, 8001);

    const [ingest] = ofKind(spans, SpanKind.SERVER);
    const deliveries = ofKind(spans, SpanKind.CONSUMER);
    const calls = ofKind(spans, SpanKind.CLIENT);
    expect(ingest).toBeDefined();
    expect(deliveries.map((span) => span.attributes["hookline.receive_count"])).toEqual([1, 2]);
    for (const span of [...deliveries, ...calls]) {
      expect(traceOf(span)).toBe(traceOf(ingest as ReadableSpan));
    }
    for (const span of deliveries) expect(parentOf(span)).toBe(idOf(ingest as ReadableSpan));
    expect(calls.map((span) => deliveries.findIndex((d) => idOf(d) === parentOf(span)))).toEqual([
      0, 1,
    ]);
    const [limited, sent] = calls;
    expect(limited?.attributes).toMatchObject({
      "http.response.status_code": 429,
      "bitrix24.error_code": "OPERATION_TIME_LIMIT",
      "bitrix24.time.operating": 480.25,
      "bitrix24.time.operating_reset_at": resetAt,
      "hookline.bitrix24.result": "retry",
    });
    expect(limited?.status).toMatchObject({
      code: SpanStatusCode.ERROR,
      message: "OPERATION_TIME_LIMIT",
    });
    expect(sent?.attributes).toMatchObject({
      "http.response.status_code": 200,
      "hookline.bitrix24.result": "sent",
    });
  }, 60_000);
});
