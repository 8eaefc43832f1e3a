import { type OutcomeView, outcomeView } from "../core/outcome";

/**
 * What the local run saw: the most recent webhook requests with their answers, and later the
 * outcome of each message they queued. An in-memory ring buffer for the terminal and the inbox
 * page (`/_inbox`); never part of the Lambdas, which log JSON instead.
 */

/** What happened to one queued message, as far as the local run has heard. */
export interface LoggedOutcome extends OutcomeView {
  at: string;
}

export interface LoggedRequest {
  /** Increases by one per request; the inbox uses it to see that something changed. */
  seq: number;
  at: string;
  method: string;
  path: string;
  sourceId?: string;
  /** The HTTP status of the answer. */
  status: number;
  /** The answer's `status` (`accepted`, `ignored`, ...) or `error` code, with its `message`. */
  answer: { status?: string; error?: string; message?: string };
  eventName?: string;
  eventId?: string;
  /** For `accepted`: messages queued and messages that failed to render. */
  messages?: number;
  failed?: number;
  /** For `ignored`: the event names (or patterns) this source's routes listen to. */
  expected?: string[];
  outcomes: LoggedOutcome[];
}

/** The outcome fields the log needs; the outcome store's records have at least these. */
export interface OutcomeLike {
  jobId: string;
  sourceId: string;
  eventId: string;
  outcome: string;
  reason?: string;
  userId?: number;
  dueAt?: Date;
  digestId?: string;
  notifiedAt?: Date;
  notifyTag?: string;
  at: Date;
}

/** The request as it came, for the inbox's "open" and "replay": headers and raw body. */
export interface RawRequest {
  headers: Readonly<Record<string, string>>;
  body: Buffer;
}

export type RequestLogChange =
  | { kind: "request"; request: LoggedRequest }
  | { kind: "outcome"; request: LoggedRequest | undefined; outcome: LoggedOutcome };

export const DEFAULT_CAPACITY = 200;
/** The raw requests kept for "open" and "replay" take at most this many bytes together. */
export const DEFAULT_RAW_BYTES = 8 * 1024 * 1024;

/**
 * A ring buffer of recent requests. Outcomes are matched to the newest request that carried
 * the same (source, event id); one per job, replaced as it moves on (`deferred` -> `sent`).
 *
 * @example
 * const log = new RequestLog();
 * log.subscribe((change) => console.log(change.kind));
 * log.addRequest({ at, method: "POST", path: "/webhooks/github", status: 401, answer: { error: "invalid_signature" } });
 */
export class RequestLog {
  private readonly entries: LoggedRequest[] = [];
  private readonly listeners = new Set<(change: RequestLogChange) => void>();
  /**
   * Outcomes whose request is not logged yet: ingest records a render failure before it
   * answers, and the request is logged after the answer. Oldest dropped beyond the capacity.
   */
  private readonly waiting = new Map<string, LoggedOutcome[]>();
  /** Raw requests by seq with their sizes, oldest first, within `rawBytes` together. */
  private readonly raws = new Map<number, KeptRaw>();
  private rawTotal = 0;
  private seq = 0;
  /** Changes so far (requests and outcomes): a cheap "anything new?" for pollers. */
  version = 0;

  constructor(
    private readonly capacity = DEFAULT_CAPACITY,
    private readonly rawBytes = DEFAULT_RAW_BYTES,
  ) {}

  addRequest(entry: Omit<LoggedRequest, "seq" | "outcomes">, raw?: RawRequest): LoggedRequest {
    const key =
      entry.status < 300 && entry.sourceId !== undefined && entry.eventId !== undefined
        ? eventKey(entry.sourceId, entry.eventId)
        : undefined;
    const early = key === undefined ? undefined : this.waiting.get(key);
    if (key !== undefined) this.waiting.delete(key);
    // The spread last: node 20 adds properties to a spread copy slowly (µs per request).
    const request: LoggedRequest = { seq: ++this.seq, outcomes: early ?? [], ...entry };
    this.entries.push(request);
    if (this.entries.length > this.capacity) {
      const dropped = this.entries.shift();
      if (dropped) this.forgetRaw(dropped.seq);
    }
    if (raw) this.keepRaw(request.seq, raw);
    this.changed({ kind: "request", request });
    return request;
  }

  /** The request as it came (headers, raw body), while it is still kept. */
  raw(seq: number): RawRequest | undefined {
    return this.raws.get(seq)?.raw;
  }

  private keepRaw(seq: number, raw: RawRequest): void {
    const size = rawSize(raw);
    if (size > this.rawBytes) return;
    this.raws.set(seq, { raw, size });
    this.rawTotal += size;
    if (this.rawTotal <= this.rawBytes) return;
    for (const oldest of this.raws.keys()) {
      if (this.rawTotal <= this.rawBytes) break;
      this.forgetRaw(oldest);
    }
  }

  /** Its size as kept: counted once, not again on every request that pushes it out. */
  private forgetRaw(seq: number): void {
    const kept = this.raws.get(seq);
    if (!kept) return;
    this.raws.delete(seq);
    this.rawTotal -= kept.size;
  }

  addOutcome(record: OutcomeLike): LoggedOutcome {
    const outcome: LoggedOutcome = { ...outcomeView(record), at: record.at.toISOString() };
    const request = this.findEvent(record.sourceId, record.eventId);
    if (request) {
      upsert(request.outcomes, outcome);
    } else {
      const key = eventKey(record.sourceId, record.eventId);
      const early = this.waiting.get(key) ?? [];
      upsert(early, outcome);
      this.waiting.delete(key);
      this.waiting.set(key, early);
      for (const oldest of this.waiting.keys()) {
        if (this.waiting.size <= this.capacity) break;
        this.waiting.delete(oldest);
      }
    }
    this.changed({ kind: "outcome", request, outcome });
    return outcome;
  }

  /** Newest first. */
  recent(limit = this.capacity): LoggedRequest[] {
    return this.entries.slice(-limit).reverse();
  }

  /** Calls `listener` after every change; returns the unsubscribe function. */
  subscribe(listener: (change: RequestLogChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private findEvent(sourceId: string, eventId: string): LoggedRequest | undefined {
    for (let index = this.entries.length - 1; index >= 0; index--) {
      const entry = this.entries[index];
      if (entry && entry.sourceId === sourceId && entry.eventId === eventId && entry.status < 300)
        return entry;
    }
    return undefined;
  }

  private changed(change: RequestLogChange): void {
    this.version++;
    for (const listener of this.listeners) {
      try {
        listener(change);
      } catch {
        // A broken listener (a closed terminal) must not break the request that fed the log.
      }
    }
  }
}

const eventKey = (sourceId: string, eventId: string) => `${sourceId}\u0000${eventId}`;

/** One outcome per job: a later one replaces the earlier (`deferred` -> `sent`). */
function upsert(outcomes: LoggedOutcome[], outcome: LoggedOutcome): void {
  const index = outcomes.findIndex((known) => known.jobId === outcome.jobId);
  if (index >= 0) outcomes[index] = outcome;
  else outcomes.push(outcome);
}

interface KeptRaw {
  raw: RawRequest;
  size: number;
}

function rawSize(raw: RawRequest): number {
  let size = raw.body.length;
  for (const name in raw.headers) size += name.length + (raw.headers[name]?.length ?? 0);
  return size;
}
