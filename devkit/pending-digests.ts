import type { OutcomeStore } from "../functions/core/ports";

/** A user's pending digest: the events waiting in it, oldest first, and when it is due. */
export interface PendingDigest {
  portal: string;
  openLineCode: string;
  userId: number;
  /** When the digest may go out: the earliest due time of its events (ISO). */
  dueAt?: string;
  events: {
    jobId: string;
    sourceId: string;
    eventId: string;
    eventName: string;
    receivedAt: string;
    message: string;
    /** It reached the user already as a system notification (ISO): the digest marks it so. */
    notifiedAt?: string;
  }[];
}

/** Further ahead than any due time (a week and its margin, or a deferral's retries). */
const HORIZON_MS = 400 * 86_400_000;

/**
 * Every pending digest, through the outcome store's sparse indexes (no scan): the `due` index
 * lists the users with deferred events, the `digest` index their events. Soonest due first.
 *
 * @example await pendingDigests(makeDynamoOutcomeStore(client, table), new Date(), { userId: 7 })
 */
export async function pendingDigests(
  outcomes: Pick<OutcomeStore, "due" | "pending" | "get">,
  now: Date,
  options: { userId?: number; limit?: number } = {},
): Promise<PendingDigest[]> {
  const users = await outcomes.due(new Date(now.getTime() + HORIZON_MS), options.limit ?? 1000);
  const digests = await Promise.all(
    users
      .filter(({ key }) => options.userId === undefined || key.userId === options.userId)
      .map(async ({ key }) => {
        const events = await outcomes.pending(key);
        const dueTimes = await Promise.all(
          events.map(async (event) => (await outcomes.get(event.jobId))?.dueAt?.getTime()),
        );
        const due = dueTimes.filter((time): time is number => time !== undefined);
        const digest: PendingDigest = {
          ...key,
          ...(due.length > 0 ? { dueAt: new Date(Math.min(...due)).toISOString() } : {}),
          events: events.map((event) => ({
            jobId: event.jobId,
            sourceId: event.sourceId,
            eventId: event.eventId,
            eventName: event.eventName,
            receivedAt: event.receivedAt,
            message: event.message.message,
            ...(event.notifiedAt && { notifiedAt: event.notifiedAt.toISOString() }),
          })),
        };
        return digest;
      }),
  );
  return digests
    .filter((digest) => digest.events.length > 0)
    .sort((a, b) => (a.dueAt ?? "").localeCompare(b.dueAt ?? ""));
}
