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
import { type EventJob, jobIdFor, queueMessageText } from "./job";
import type { Log } from "./log";
import { jsonBytesAtMost } from "./message";
import { Metric, type Metrics } from "./metrics";
import { outcomeRecord } from "./outcome";
import type { FirstReceipt, JobQueue, OutcomeStore, Receipt, ReceiptStore } from "./ports";
import type { RouteResult, Router } from "./routes";
import { type VerifiedEvent, verifyEventNow } from "./sources/index";
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
      event = verifyEventNow(source, secrets, request, receivedAt);
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
    const found = await guardStore(() => receipts.record(receipt, receivedAt));
    if (found.state !== "recorded") {
      if (found.state === "received" && sameBody(found.bodyHash, receipt.bodyHash)) {
        await queueUnproven(source.id, event.payload, found.first);
      } else if (found.state === "received") {
        // Its own signed body under another event's unsigned id: nothing of it is queued.
        log.warn("event id received before with another body: nothing queued", {
          sourceId: source.id,
          eventId: clipForLog(event.id),
        });
      }
      return { statusCode: 200, body: { status: "duplicate", eventId: event.id } };
    }

    const first = { eventId: event.id, eventName: event.name, receivedAt };
    const { jobs, failures } = jobsOf(source.id, first, results);
    // No second write: should this fail or never return, the receipt stays `received` and the
    // sender's retry queues the jobs that have no outcome (docs/ingest-receipts.md).
    await settle(source.id, first, jobs, failures);
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

  /**
   * A webhook whose receipt an earlier request wrote: only deliver's outcome of a job proves it
   * was queued (ingest's own, for a render failure). The jobs without one are made again as the
   * first request made them (its event id, name and time) and queued: where that request did
   * queue them, these are copies, which deliver settles once (docs/ledger.md); where it died
   * first, nothing is lost. A replay under a new delivery id never gets jobs of its own.
   */
  async function queueUnproven(sourceId: string, payload: unknown, first: FirstReceipt) {
    const routed = router.route({ sourceId, ...first, payload });
    const { jobs, failures } = jobsOf(sourceId, first, routed);
    const jobIds = [...jobs, ...failures].map((job) => job.jobId);
    const proofs = await guardStore(() => Promise.all(jobIds.map((jobId) => outcomes.get(jobId))));
    const unproven = new Set(jobIds.filter((_, index) => proofs[index] === undefined));
    if (unproven.size === 0) return;
    log.info("receipt without proof of queuing: queued again", {
      sourceId,
      eventId: clipForLog(first.eventId),
      jobs: unproven.size,
    });
    const open = <T extends { jobId: string }>(list: T[]) =>
      list.filter((job) => unproven.has(job.jobId));
    await settle(sourceId, first, open(jobs), open(failures));
  }

  /** The jobs of an event, and the routes that could not render one (or not small enough). */
  function jobsOf(sourceId: string, first: FirstReceipt, results: RouteResult[]) {
    const jobs: EventJob[] = [];
    const failures: { jobId: string; reason: string }[] = [];
    for (const result of results) {
      const jobId = jobIdFor(sourceId, first.eventId, result.routeIndex);
      if (result.ok) {
        jobs.push({
          v: 3,
          kind: "event",
          jobId,
          sourceId,
          eventId: first.eventId,
          eventName: first.eventName,
          receivedAt: first.receivedAt.toISOString(),
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
    for (const job of jobs.filter(isTooBig)) {
      jobs.splice(jobs.indexOf(job), 1);
      const reason = `job is ${jobBytes(job)} bytes, over the queue's limit of ${MAX_JOB_BYTES}`;
      failures.push({ jobId: job.jobId, reason });
    }
    return { jobs, failures };
  }

  /** Records the render failures (final: a retry could not fix them) and queues the jobs. */
  async function settle(
    sourceId: string,
    first: FirstReceipt,
    jobs: EventJob[],
    failures: { jobId: string; reason: string }[],
  ) {
    const { eventId, eventName, receivedAt } = first;
    try {
      if (failures.length > 0) {
        await Promise.all(
          failures.map(({ jobId, reason }) =>
            outcomes.finish(
              outcomeRecord(
                { jobId, sourceId, eventId, eventName },
                { outcome: "failed", reason, at: receivedAt },
              ),
            ),
          ),
        );
      }
      if (jobs.length > 0) await queue.enqueue(jobs);
    } catch (error) {
      throw new ServiceUnavailableError("could not enqueue messages", { cause: error });
    }
    for (const failure of failures) {
      log.warn("message not rendered", {
        sourceId,
        eventId: clipForLog(eventId),
        ...failure,
        jobId: clipForLog(failure.jobId),
      });
      metrics.count(Metric.Messages, { Outcome: "failed" });
    }
  }
}

/** Event ids and names become keys, job fields and log lines: longer ones are refused (400). */
export const MAX_EVENT_ID_LENGTH = 256;
export const MAX_EVENT_NAME_LENGTH = 256;
/** SQS refuses messages over 256 KiB; a job stays below, with room for the queue's attributes. */
export const MAX_JOB_BYTES = 250 * 1024;
const LOG_ID_LENGTH = 80;

/** A lone surrogate: with the `u` flag, a pair is one code point and never matches. */
const LONE_SURROGATE = /\p{Cs}/u;

function assertBounded(event: VerifiedEvent): void {
  if (event.id.length > MAX_EVENT_ID_LENGTH) {
    throw new BadRequestError(`event id longer than ${MAX_EVENT_ID_LENGTH} characters`);
  }
  if (event.name.length > MAX_EVENT_NAME_LENGTH) {
    throw new BadRequestError(`event name longer than ${MAX_EVENT_NAME_LENGTH} characters`);
  }
  // As UTF-8 (a long id's key is its hash) every lone surrogate is U+FFFD: two ids were one.
  if (LONE_SURROGATE.test(event.id)) throw notWellFormed("id");
  if (LONE_SURROGATE.test(event.name)) throw notWellFormed("name");
}

const notWellFormed = (what: string) =>
  new BadRequestError(`event ${what} is not well-formed Unicode (a lone surrogate)`);

/** The job's size as the queue takes it (the text the queue adapter sends). */
const jobBytes = (job: EventJob): number => Buffer.byteLength(queueMessageText(job), "utf8");

/** Over the queue's limit; the exact size only when a cheap upper bound is over it. */
const isTooBig = (job: EventJob): boolean =>
  jsonBytesAtMost(job) > MAX_JOB_BYTES && jobBytes(job) > MAX_JOB_BYTES;

/** Sender-controlled text in a log line: short enough to read, never the whole value. */
export const clipForLog = (text: string): string => clip(text, LOG_ID_LENGTH);

/**
 * What deduplicates this event. Ids that the signature covers (Stripe, Standard Webhooks) are
 * enough. GitHub's and generic HMAC ids and names come in unsigned headers, so the hash of the
 * signed bytes is recorded instead: a captured body replayed under a new delivery id, or
 * relabelled as another event, is a duplicate. A timestamped HMAC sender re-signs each retry, so
 * there the id is recorded as well, with the body's hash when the id is an unsigned header.
 */
export function receiptFor(source: SourceConfig, event: VerifiedEvent): Receipt {
  // Literals, not `{ ...receipt, byId }`: node 20 adds properties to a spread copy slowly (µs).
  if (event.contentHash === undefined)
    return { sourceId: source.id, eventId: event.id, eventName: event.name, byId: true };
  const resigned = source.type === "hmac" && source.timestampHeader !== undefined;
  const receipt: Receipt = {
    sourceId: source.id,
    eventId: event.id,
    eventName: event.name,
    contentHash: event.contentHash,
    byId: resigned,
  };
  if (event.bodyHash !== undefined) receipt.bodyHash = event.bodyHash;
  return receipt;
}

/**
 * Whether a request may queue the jobs of the receipt it found: its body is the first request's,
 * or either hash is unknown (a signed id, or a receipt written before body hashes were kept: as
 * before, docs/ingest-receipts.md).
 */
const sameBody = (first: string | undefined, own: string | undefined): boolean =>
  first === undefined || own === undefined || first === own;

/** A store that cannot be reached is our fault: 503, so the sender retries. */
async function guardStore<T>(operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (error) {
    throw new ServiceUnavailableError("event store unavailable", { cause: error });
  }
}
