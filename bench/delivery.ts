import { randomUUID } from "node:crypto";
import { BUCKET_RESERVE } from "../functions/adapters/wiring";
import { silentLog } from "../functions/core/log";
import { startLocalBridge } from "../functions/local/bridge";
import { OPEN_LINE_CODE, postWebhook, TEST_SECRETS, testConfig } from "../test/support/bridge";
import { standardWebhookRequest } from "../test/support/signers";

export interface DeliveryOptions {
  webhooks: number;
  perSecond: number;
  burst: number;
}

export interface DeliveryResult {
  webhooks: number;
  delivered: number;
  /** Messages per second after the initial burst. */
  steadyRate: number;
  perSecond: number;
  /** Burst units hookline uses of the portal's bucket (burst - BUCKET_RESERVE). */
  effectiveBurst: number;
  /** 503 QUERY_LIMIT_EXCEEDED answers of the simulator. */
  rejected: number;
  /** Seconds from the first to the last message the simulator accepted. */
  spanSeconds: number;
  /** Seconds it took to post every webhook (must be well under the delivery span). */
  postSeconds: number;
  deadLetters: number;
  /** Messages (from index firstSteady to the last) the steady rate is measured over. */
  steadyMessages: number;
}

/**
 * The whole local pipeline (HTTP ingest, dynalite, in-process queue, deliver, Bitrix24
 * simulator enforcing the configured leaky bucket): post webhooks for distinct users as fast as
 * ingest takes them, wait until the queue drains, and read the send times the simulator logged.
 */
export async function measureDelivery(options: DeliveryOptions): Promise<DeliveryResult> {
  const { perSecond, burst } = options;
  const config = testConfig({
    bitrix: {
      openLineCode: OPEN_LINE_CODE,
      rateLimit: { perSecond, burst },
      weeklyLimit: true,
      timeoutMs: 2_000,
      // One message per request: the bucket's own pace (batches: bench/batch-delivery.ts).
      batch: { maxMessages: 1 },
    },
  });
  const requests = Array.from({ length: options.webhooks }, (_, i) =>
    standardWebhookRequest(TEST_SECRETS.APP_SECRET, {
      type: "order.created",
      timestamp: new Date().toISOString(),
      data: { bitrixUserId: 1_000 + i, orderId: `ord_${randomUUID()}`, note: `bench order ${i}` },
    }),
  );

  const bridge = await startLocalBridge({
    config,
    port: 0,
    host: "127.0.0.1",
    env: { ...TEST_SECRETS },
    tableName: "hookline-bench",
    log: silentLog,
    deliverTimeoutMs: 30_000,
  });
  try {
    const simulator = bridge.simulator;
    if (!simulator) throw new Error("delivery bench: the bridge started without its simulator");

    // Warm-up: one verified webhook that matches no route builds ingest's dependencies and
    // the HTTP path without queueing anything, so the real posts arrive at full speed.
    const warmUp = await postWebhook(
      bridge,
      "app",
      standardWebhookRequest(TEST_SECRETS.APP_SECRET, { type: "customer.created", data: {} }),
    );
    if (warmUp.status !== 200) throw new Error(`delivery bench: warm-up got ${warmUp.status}`);

    // Enqueue quickly: a few posts in flight at once, so the backlog builds far faster than
    // the bucket drains and the consumer never waits for work.
    const postStart = performance.now();
    let next = 0;
    const poster = async () => {
      while (next < requests.length) {
        const request = requests[next++];
        if (!request) break;
        const answer = await postWebhook(bridge, "app", request);
        if (answer.status !== 202 || answer.body.messages !== 1) {
          throw new Error(`delivery bench: webhook answered ${answer.status}`);
        }
      }
    };
    await Promise.all(Array.from({ length: 4 }, poster));
    const postSeconds = (performance.now() - postStart) / 1000;
    const postedAt = Date.now();
    await bridge.queue.idle();

    const times = simulator.messages.map((message) => message.at).sort((a, b) => a - b);
    const effectiveBurst = Math.max(1, burst - BUCKET_RESERVE);
    // Steady-state rate. hookline's limiter is a GCRA bucket of B = burst - BUCKET_RESERVE
    // units draining r per second: idle, it lets B messages through at once, then, as long as
    // there is a backlog, one every 1/r. Message k (0-based, k >= B) is then due at
    // t0 + (k - B + 1) / r, so between any two steady messages j < k exactly k - j intervals of
    // 1/r elapse:
    //     rate = (k - j) / (t[k] - t[j]),  with k = n - 1 (the last message).
    // That is the "(count - burst) / (last - end of burst)" when j = B - 1 and the burst
    // all left at t0. Here the consumer starts at once, so the first messages left while
    // webhooks were still arriving: the bucket drained meanwhile and let a few more than B
    // through before it was full (a dozen instead of 8 in trial runs): that would inflate the rate.
    // So j is the first message after both the burst (j >= B) and the last post, when the
    // backlog is certain and the bucket has been full for a while. Counting intervals between
    // two sent messages, not messages over a span, also avoids an off-by-one.
    const n = times.length;
    const afterPosting = times.findIndex((at) => at >= postedAt);
    const firstSteady = Math.max(effectiveBurst, afterPosting < 0 ? n : afterPosting);
    const start = times[firstSteady];
    const last = times[n - 1];
    const steadyRate =
      start !== undefined && last !== undefined && last > start
        ? ((n - 1 - firstSteady) * 1000) / (last - start)
        : Number.NaN;
    return {
      webhooks: options.webhooks,
      delivered: n,
      steadyRate,
      perSecond,
      effectiveBurst,
      rejected: simulator.stats.rejectedRateLimit,
      spanSeconds: n > 1 ? ((last ?? 0) - (times[0] ?? 0)) / 1000 : 0,
      postSeconds,
      deadLetters: bridge.queue.deadLetters.length,
      steadyMessages: Math.max(0, n - firstSteady),
    };
  } finally {
    await bridge.close();
  }
}
