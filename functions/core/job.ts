import * as z from "zod";

/**
 * What travels on the delivery queue. The body is JSON, parsed with these schemas on the deliver
 * side, so a malformed message fails loudly. Version 1 (an event without `kind`) is still read:
 * jobs queued before a deploy keep their meaning.
 */
const renderedFields = {
  userId: z.number().int().positive(),
  message: z.string().min(1),
  attach: z.unknown().optional(),
  keyboard: z.unknown().optional(),
  urlPreview: z.boolean().optional(),
};

const eventFields = {
  /** `<sourceId>:<eventId>:<route index>`: stable across redeliveries of the queue message. */
  jobId: z.string().min(1),
  sourceId: z.string().min(1),
  eventId: z.string().min(1),
  eventName: z.string(),
  /** ISO time the webhook was received: ordering in digests, delivery latency. */
  receivedAt: z.iso.datetime(),
  ...renderedFields,
};

const eventJobV1 = z.strictObject({ v: z.literal(1), ...eventFields });

export const eventJobSchema = z.strictObject({
  v: z.literal(2),
  kind: z.literal("event"),
  ...eventFields,
  /** The route's `whenLimited`: join the user's digest, or record `suppressed`. */
  whenLimited: z.enum(["digest", "drop"]),
});

/** The sweeper's request to send one user's due digest. Idempotent: state lives in the table. */
export const flushJobSchema = z.strictObject({
  v: z.literal(2),
  kind: z.literal("flush"),
  userId: z.number().int().positive(),
});

export const queueMessageSchema = z.union([
  eventJobSchema,
  flushJobSchema,
  eventJobV1.transform(
    ({ v: _v, ...job }): EventJob => ({
      v: 2,
      kind: "event",
      ...job,
      whenLimited: "digest",
    }),
  ),
]);

export type EventJob = z.infer<typeof eventJobSchema>;
export type FlushJob = z.infer<typeof flushJobSchema>;
export type QueueMessage = EventJob | FlushJob;

/** The message part of a job: what Bitrix24 receives. */
export type RenderedMessage = Pick<
  EventJob,
  "userId" | "message" | "attach" | "keyboard" | "urlPreview"
>;

export const jobIdFor = (sourceId: string, eventId: string, routeIndex: number): string =>
  `${sourceId}:${eventId}:${routeIndex}`;
