import type { Clock } from "./clock";
import type { Config, SourceConfig } from "./config";
import {
  BadRequestError,
  InvalidSignatureError,
  PayloadTooLargeError,
  ServiceUnavailableError,
  UnknownSourceError,
} from "./errors";
import { ignoredReason } from "./ignored";
import { type EventJob, jobIdFor } from "./job";
import type { Log } from "./log";
import { jsonBytesAtMost } from "./message";
import { Metric, type Metrics } from "./metrics";
import { outcomeRecord } from "./outcome";
import type { JobQueue, OutcomeStore, Receipt, ReceiptStore } from "./ports";
import type { Router } from "./routes";
import { type VerifiedEvent, verifyEvent } from "./sources/index";
import type { RawRequest } from "./sources/request";
import { clip } from "./values";

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
  | { statusCode: 200; body: { status: "duplicate"; eventId: string } }
  /** `message`: why no route took it (see `ignoredReason`). */
  | { statusCode: 200; body: { status: "ignored"; eventId: string; message: string } };

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
    let event: VerifiedEvent;
    try {
      event = await verifyEvent(source, secrets, request, receivedAt);
    } catch (error) {
      if (error instanceof InvalidSignatureError)
        metrics.count(Metric.SignatureFailures, { Source: source.id });
      throw error;
    }

    assertBounded(event);
    const results = router.route({
      sourceId: source.id,
      eventId: event.id,
      eventName: event.name,
      receivedAt,
      payload: event.payload,
    });
    if (results.length === 0) {
      const message = ignoredReason(config, source.id, event.name);
      return { statusCode: 200, body: { status: "ignored", eventId: event.id, message } };
    }

    const receipt = receiptFor(source, event);
    const recorded = await guardStore(() => receipts.record(receipt, receivedAt));
    if (recorded === "duplicate")
      return { statusCode: 200, body: { status: "duplicate", eventId: event.id } };
    // Another attempt of this event is enqueuing right now: not a duplicate until it has queued.
    if (recorded === "pending") throw new ServiceUnavailableError("event being received, retry");

    const jobs: EventJob[] = [];
    const failures: { jobId: string; reason: string }[] = [];
    for (const result of results) {
      const jobId = jobIdFor(source.id, event.id, result.routeIndex);
      if (result.ok) {
        jobs.push({
          v: 3,
          kind: "event",
          jobId,
          sourceId: source.id,
          eventId: event.id,
          eventName: event.name,
          receivedAt: receivedAt.toISOString(),
          ...result.message,
          whenLimited: result.whenLimited,
          ...(result.notify && { notify: result.notify }),
          portal: result.target.portal,
          openLineCode: result.target.openLineCode,
        });
      } else {
        failures.push({ jobId, reason: result.reason });
      }
    }
    // A job over the queue's size limit could never be sent: it fails like a message over a limit.
    // The exact size is only computed when a cheap upper bound is over the limit.
    const tooBig = (job: EventJob) =>
      jsonBytesAtMost(job) > MAX_JOB_BYTES && jobBytes(job) > MAX_JOB_BYTES;
    for (const job of jobs.filter(tooBig)) {
      jobs.splice(jobs.indexOf(job), 1);
      const reason = `job is ${jobBytes(job)} bytes, over the queue's limit of ${MAX_JOB_BYTES}`;
      failures.push({ jobId: job.jobId, reason });
    }

    try {
      // Render failures are final (a retry could not fix them): recorded, counted, answered 2xx.
      await Promise.all(
        failures.map(({ jobId, reason }) =>
          outcomes.finish(
            outcomeRecord(
              { jobId, sourceId: source.id, eventId: event.id, eventName: event.name },
              { outcome: "failed", reason, at: receivedAt },
            ),
          ),
        ),
      );
      if (jobs.length > 0) await queue.enqueue(jobs);
    } catch (error) {
      // Nothing may be lost: forget the receipt so the sender's retry is processed afresh.
      await receipts.remove(receipt).catch((removeError: unknown) => {
        log.error("could not remove receipt after a failed enqueue", {
          sourceId: source.id,
          eventId: clipForLog(event.id),
          error: String(removeError),
        });
      });
      throw new ServiceUnavailableError("could not enqueue messages", { cause: error });
    }
    // Queued: only now is the sender's retry a duplicate. If this write fails the receipt stays
    // pending and a retry after the pending window queues a copy, which deliver settles once.
    await receipts.queued(receipt).catch((queuedError: unknown) => {
      log.warn("could not mark receipt queued", {
        sourceId: source.id,
        eventId: clipForLog(event.id),
        error: String(queuedError),
      });
    });

    for (const failure of failures) {
      log.warn("message not rendered", {
        sourceId: source.id,
        eventId: clipForLog(event.id),
        ...failure,
        jobId: clipForLog(failure.jobId),
      });
      metrics.count(Metric.Messages, { Outcome: "failed" });
    }
    log.info("webhook accepted", {
      sourceId: source.id,
      eventId: clipForLog(event.id),
      eventName: clipForLog(event.name),
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

/** Event ids and names become keys, job fields and log lines: longer ones are refused (400). */
export const MAX_EVENT_ID_LENGTH = 256;
export const MAX_EVENT_NAME_LENGTH = 256;
/** SQS refuses messages over 256 KiB; a job stays below, with room for the queue's attributes. */
export const MAX_JOB_BYTES = 250 * 1024;
const LOG_ID_LENGTH = 80;

function assertBounded(event: VerifiedEvent): void {
  if (event.id.length > MAX_EVENT_ID_LENGTH) {
    throw new BadRequestError(`event id longer than ${MAX_EVENT_ID_LENGTH} characters`);
  }
  if (event.name.length > MAX_EVENT_NAME_LENGTH) {
    throw new BadRequestError(`event name longer than ${MAX_EVENT_NAME_LENGTH} characters`);
  }
}

const jobBytes = (job: EventJob): number => Buffer.byteLength(JSON.stringify(job), "utf8");

/** Sender-controlled text in a log line: short enough to read, never the whole value. */
export const clipForLog = (text: string): string => clip(text, LOG_ID_LENGTH);

/**
 * What deduplicates this event. Ids that the signature covers (Stripe, Standard Webhooks) are
 * enough. GitHub's and generic HMAC ids and names come in unsigned headers, so the hash of the
 * signed bytes is recorded instead: a captured body replayed under a new delivery id, or
 * relabelled as another event, is a duplicate. A timestamped HMAC sender re-signs each retry, so
 * there the id is recorded as well.
 */
export function receiptFor(source: SourceConfig, event: VerifiedEvent): Receipt {
  // Literals, not `{ ...receipt, byId }`: node 20 adds properties to a spread copy slowly (µs).
  if (event.contentHash === undefined)
    return { sourceId: source.id, eventId: event.id, byId: true };
  const resigned = source.type === "hmac" && source.timestampHeader !== undefined;
  return {
    sourceId: source.id,
    eventId: event.id,
    contentHash: event.contentHash,
    byId: resigned,
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
