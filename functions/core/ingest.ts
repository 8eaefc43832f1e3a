import type { Clock } from "./clock";
import type { Config, SourceConfig } from "./config";
import {
  InvalidSignatureError,
  PayloadTooLargeError,
  ServiceUnavailableError,
  UnknownSourceError,
} from "./errors";
import { type DeliveryJob, jobIdFor } from "./job";
import type { Log } from "./log";
import { Metric, type Metrics } from "./metrics";
import type { JobQueue, OutcomeStore, ReceiptStore } from "./ports";
import type { Router } from "./routes";
import { verifyEvent } from "./sources/index";
import type { RawRequest } from "./sources/request";

export interface IngestDeps {
  config: Config;
  /** The resolved signing secrets of a source (several during a rotation). */
  secretsFor: (source: SourceConfig) => Promise<readonly string[]>;
  router: Router;
  receipts: ReceiptStore;
  queue: JobQueue;
  outcomes: OutcomeStore;
  clock: Clock;
  log: Log;
  metrics: Metrics;
}

export interface WebhookRequest extends RawRequest {
  sourceId: string;
}

export type IngestAnswer =
  | {
      statusCode: 202;
      body: { status: "accepted"; eventId: string; messages: number; failed: number };
    }
  | { statusCode: 200; body: { status: "duplicate" | "ignored"; eventId: string } };

/**
 * The ingest use case: verify, route and render, record the receipt, enqueue.
 * Throws HooklineErrors that carry their HTTP status; everything else is our own fault.
 *
 * @example
 *   const ingest = makeIngest(deps);
 *   const answer = await ingest({ sourceId: "github", headers, body });
 */
export function makeIngest(deps: IngestDeps) {
  const { config, router, receipts, queue, outcomes, clock, log, metrics } = deps;
  const sources = new Map(config.sources.map((source) => [source.id, source]));

  return async function ingest(request: WebhookRequest): Promise<IngestAnswer> {
    const source = sources.get(request.sourceId);
    if (!source) throw new UnknownSourceError("no webhook source with this id");
    if (request.body.length > config.limits.maxBodyBytes) {
      throw new PayloadTooLargeError(`body over the limit of ${config.limits.maxBodyBytes} bytes`);
    }

    const receivedAt = clock.now();
    const secrets = await deps.secretsFor(source);
    let event: Awaited<ReturnType<typeof verifyEvent>>;
    try {
      event = await verifyEvent(source, secrets, request, receivedAt);
    } catch (error) {
      if (error instanceof InvalidSignatureError)
        metrics.count(Metric.SignatureFailures, { Source: source.id });
      throw error;
    }

    const results = router.route({
      sourceId: source.id,
      eventId: event.id,
      eventName: event.name,
      receivedAt,
      payload: event.payload,
    });
    if (results.length === 0)
      return { statusCode: 200, body: { status: "ignored", eventId: event.id } };

    const receipt = await guardStore(() => receipts.record(source.id, event.id, receivedAt));
    if (receipt === "duplicate")
      return { statusCode: 200, body: { status: "duplicate", eventId: event.id } };

    const jobs: DeliveryJob[] = [];
    const failures: { jobId: string; reason: string }[] = [];
    for (const result of results) {
      const jobId = jobIdFor(source.id, event.id, result.routeIndex);
      if (result.ok) {
        jobs.push({
          v: 1,
          jobId,
          sourceId: source.id,
          eventId: event.id,
          eventName: event.name,
          receivedAt: receivedAt.toISOString(),
          ...result.message,
        });
      } else {
        failures.push({ jobId, reason: result.reason });
      }
    }

    try {
      // Render failures are final (a retry could not fix them): recorded, counted, answered 2xx.
      await Promise.all(
        failures.map(({ jobId, reason }) =>
          outcomes.record({
            jobId,
            sourceId: source.id,
            eventId: event.id,
            eventName: event.name,
            outcome: "failed",
            reason,
            at: receivedAt,
          }),
        ),
      );
      if (jobs.length > 0) await queue.enqueue(jobs);
    } catch (error) {
      // Nothing may be lost: forget the receipt so the sender's retry is processed afresh.
      await receipts.remove(source.id, event.id).catch((removeError: unknown) => {
        log.error("could not remove receipt after a failed enqueue", {
          sourceId: source.id,
          eventId: event.id,
          error: String(removeError),
        });
      });
      throw new ServiceUnavailableError("could not enqueue messages", { cause: error });
    }

    for (const failure of failures) {
      log.warn("message not rendered", { sourceId: source.id, eventId: event.id, ...failure });
      metrics.count(Metric.Messages, { Outcome: "failed" });
    }
    log.info("webhook accepted", {
      sourceId: source.id,
      eventId: event.id,
      eventName: event.name,
      messages: jobs.length,
      failed: failures.length,
    });
    return {
      statusCode: 202,
      body: {
        status: "accepted",
        eventId: event.id,
        messages: jobs.length,
        failed: failures.length,
      },
    };
  };
}

/** A store that cannot be reached is our fault: 503, so the sender retries. */
async function guardStore<T>(operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (error) {
    throw new ServiceUnavailableError("event store unavailable", { cause: error });
  }
}
