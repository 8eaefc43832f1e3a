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

/** Where a job goes: a portal (its config id) and the code of one of its open lines. */
const target = {
  portal: z.string().min(1),
  openLineCode: z.string().min(1),
};
const whenLimited = z.enum(["digest", "drop"]);

/** Version 3: an event for one user, with the portal and open line that send it. */
export const eventJobSchema = z.strictObject({
  v: z.literal(3),
  kind: z.literal("event"),
  ...eventFields,
  /** The route's `whenLimited`: join the user's digest, or record `suppressed`. */
  whenLimited,
  ...target,
});

/** The sweeper's request to send one user's due digest. Idempotent: state lives in the table. */
export const flushJobSchema = z.strictObject({
  v: z.literal(3),
  kind: z.literal("flush"),
  userId: z.number().int().positive(),
  ...target,
});

/** Jobs queued before a deploy: no portal named, so they go to the first portal's first line. */
const legacyJobs = [
  z
    .strictObject({ v: z.literal(1), ...eventFields })
    .transform(
      ({ v: _v, ...job }): EventJob => ({ v: 3, kind: "event", ...job, whenLimited: "digest" }),
    ),
  z
    .strictObject({ v: z.literal(2), kind: z.literal("event"), ...eventFields, whenLimited })
    .transform(({ v: _v, ...job }): EventJob => ({ ...job, v: 3 })),
  z
    .strictObject({
      v: z.literal(2),
      kind: z.literal("flush"),
      userId: z.number().int().positive(),
    })
    .transform(({ v: _v, ...job }): FlushJob => ({ ...job, v: 3 })),
] as const;

export const queueMessageSchema = z.union([eventJobSchema, flushJobSchema, ...legacyJobs]);

/** A job as deliver reads it; `portal` and `openLineCode` are absent only in legacy jobs. */
export type EventJob = Omit<z.infer<typeof eventJobSchema>, "portal" | "openLineCode"> &
  Partial<Pick<z.infer<typeof eventJobSchema>, "portal" | "openLineCode">>;
export type FlushJob = Omit<z.infer<typeof flushJobSchema>, "portal" | "openLineCode"> &
  Partial<Pick<z.infer<typeof flushJobSchema>, "portal" | "openLineCode">>;
export type QueueMessage = EventJob | FlushJob;

/** The message part of a job: what Bitrix24 receives. */
export type RenderedMessage = Pick<
  EventJob,
  "userId" | "message" | "attach" | "keyboard" | "urlPreview"
>;

export const jobIdFor = (sourceId: string, eventId: string, routeIndex: number): string =>
  `${sourceId}:${eventId}:${routeIndex}`;
