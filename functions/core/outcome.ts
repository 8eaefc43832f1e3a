/**
 * What happened to one message (one event and route). Two states are on the way: `deferred` (the
 * event waits in its user's weekly digest) and `notified` (it reached the user at once as a system
 * notification, the second channel of docs/notify.md, and still waits in the digest). Every other
 * outcome is final and written once.
 */
export const OUTCOMES = [
  "deferred",
  "notified",
  "sent",
  "suppressed",
  "failed",
  "unknown",
] as const;
export type Outcome = (typeof OUTCOMES)[number];
/** The outcomes on the way: the event is still in its user's digest. */
export const PENDING_OUTCOMES = ["deferred", "notified"] as const satisfies readonly Outcome[];
export type PendingOutcome = (typeof PENDING_OUTCOMES)[number];
export type FinalOutcome = Exclude<Outcome, PendingOutcome>;

export const isPending = (outcome: Outcome): outcome is PendingOutcome =>
  (PENDING_OUTCOMES as readonly Outcome[]).includes(outcome);

export interface OutcomeRecord {
  jobId: string;
  sourceId: string;
  eventId: string;
  eventName: string;
  outcome: Outcome;
  /** Why, in a few words: `sent`, `in digest …`, `Bitrix24 rejected the message: CODE_ERROR`. */
  reason: string;
  userId?: number;
  /** Bitrix24 error code, when there was one. */
  bitrixCode?: string;
  /** The digest this event was sent in. */
  digestId?: string;
  /** When a deferred event's digest may go out. */
  dueAt?: Date;
  /**
   * A `failed` outcome because the retry window ran out: the message is in the dead-letter
   * queue, and a redrive may try it again (the one final outcome that may be replaced).
   */
  exhausted?: boolean;
  /**
   * When the event reached its user as a system notification (`im.notify.system.add`), kept on
   * every later state: `hookline events` and the inbox show both deliveries of one event.
   */
  notifiedAt?: Date;
  /** The notification's TAG: a later one with the same tag replaced it on the user's screen. */
  notifyTag?: string;
  at: Date;
}

/**
 * An outcome as the operator sees it (`hookline events --json`, the local run's request log):
 * times as ISO strings, only the fields it has.
 */
export interface OutcomeView {
  jobId: string;
  outcome: string;
  reason: string;
  userId?: number;
  /** For `deferred`: when its digest is due. */
  dueAt?: string;
  digestId?: string;
  /** When it reached the user as a system notification, and the notification's TAG. */
  notifiedAt?: string;
  notifyTag?: string;
}

/** The {@link OutcomeView} of a record (a missing reason reads as empty). */
export function outcomeView(
  record: Pick<
    OutcomeRecord,
    "jobId" | "userId" | "digestId" | "dueAt" | "notifiedAt" | "notifyTag"
  > & {
    outcome: string;
    reason?: string;
  },
): OutcomeView {
  return {
    jobId: record.jobId,
    outcome: record.outcome,
    reason: record.reason ?? "",
    ...(record.userId === undefined ? {} : { userId: record.userId }),
    ...(record.dueAt === undefined ? {} : { dueAt: record.dueAt.toISOString() }),
    ...(record.digestId === undefined ? {} : { digestId: record.digestId }),
    ...(record.notifiedAt === undefined ? {} : { notifiedAt: record.notifiedAt.toISOString() }),
    ...(record.notifyTag === undefined ? {} : { notifyTag: record.notifyTag }),
  };
}

/** What an outcome record says about its job: the same for every outcome it ever has. */
export type JobFacts = Pick<
  OutcomeRecord,
  "jobId" | "sourceId" | "eventId" | "eventName" | "userId"
>;

/**
 * An outcome record for a job, from its facts (an event job, a digest's pending event, a queue
 * message) and what happened.
 *
 * @example outcomeRecord(jobFactsOf(job), { outcome: "failed", reason: "…", at: clock.now() })
 */
export function outcomeRecord(
  facts: JobFacts,
  happened: Omit<OutcomeRecord, keyof JobFacts>,
): OutcomeRecord {
  return {
    jobId: facts.jobId,
    sourceId: facts.sourceId,
    eventId: facts.eventId,
    eventName: facts.eventName,
    ...(facts.userId !== undefined && { userId: facts.userId }),
    ...happened,
  };
}
