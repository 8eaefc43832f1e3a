import {
  accept,
  literal,
  oneOf,
  optional,
  reject,
  type Shape,
  strictObject,
  string,
} from "./shapes";

/**
 * What travels on the delivery queue. The body is JSON, read with `queueMessageReader` on the
 * deliver side, so a malformed message fails loudly. Versions 1 (an event without `kind`) and 2
 * (no portal) are still read: jobs queued before a deploy keep their meaning. Plain checks
 * (functions/core/shapes.ts), no schema library: they run on every deliver cold start.
 */

/** The message part of a job: what Bitrix24 receives. */
export interface RenderedMessage {
  userId: number;
  message: string;
  attach?: unknown;
  keyboard?: unknown;
  urlPreview?: boolean | undefined;
}

/** `whenLimited`: what an event does when its user's open-line week is taken (docs/notify.md). */
export const WHEN_LIMITED = ["digest", "drop", "notify", "notify-only"] as const;
export type WhenLimited = (typeof WHEN_LIMITED)[number];

/** Routes with these values send the second channel, `im.notify.system.add` (scope `im`). */
export const NOTIFYING: readonly WhenLimited[] = ["notify", "notify-only"];

/**
 * The system notification of an event whose route notifies, rendered at ingest like the message:
 * its text (BB-code, sender text escaped), ATTACH, and the TAG that makes a repeat replace the
 * earlier notification instead of adding one.
 */
export interface RenderedNotification {
  message: string;
  attach?: unknown;
  tag: string;
}

/** Version 3: an event for one user, with the portal and open line that send it. */
export interface EventJob extends RenderedMessage {
  v: 3;
  kind: "event";
  /** `<sourceId>:<eventId>:<route index>`: stable across redeliveries of the queue message. */
  jobId: string;
  sourceId: string;
  eventId: string;
  eventName: string;
  /** ISO time the webhook was received: ordering in digests, delivery latency. */
  receivedAt: string;
  /**
   * The route's `whenLimited`: join the user's digest, record `suppressed`, or send a system
   * notification now (and, for `notify`, list the event in the digest too).
   */
  whenLimited: WhenLimited;
  /** The notification, when `whenLimited` is `notify` or `notify-only`. */
  notify?: RenderedNotification;
  /** The portal's config id; absent only in legacy jobs (they go to the first portal). */
  portal?: string;
  /** One of the portal's open lines; absent only in legacy jobs (its first line). */
  openLineCode?: string;
}

/** The sweeper's request to send one user's due digest. Idempotent: state lives in the table. */
export interface FlushJob {
  v: 3;
  kind: "flush";
  userId: number;
  portal?: string;
  openLineCode?: string;
}

export type QueueMessage = EventJob | FlushJob;

const positiveInteger: Shape = (value) =>
  typeof value === "number" && Number.isSafeInteger(value) && value > 0
    ? accept(value)
    : reject("must be a positive integer");
const nonEmpty: Shape = (value) =>
  typeof value === "string" && value.length > 0 ? accept(value) : reject("must not be empty");
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
/** An ISO 8601 time in UTC with seconds, as `Date.toISOString` writes it, and a real date. */
const isoTime: Shape = (value) => {
  if (typeof value !== "string" || !ISO_TIME.test(value)) {
    return reject("must be an ISO time in UTC");
  }
  const time = Date.parse(value);
  // Date.parse rolls 2030-02-31 over into March: the day must survive the round trip.
  return !Number.isNaN(time) && new Date(time).toISOString().slice(0, 10) === value.slice(0, 10)
    ? accept(value)
    : reject("must be an ISO time in UTC");
};
const anything: Shape = accept;
const boolean: Shape = (value) =>
  typeof value === "boolean" ? accept(value) : reject("must be a boolean");

const renderedFields = {
  userId: positiveInteger,
  message: nonEmpty,
  attach: optional(anything),
  keyboard: optional(anything),
  urlPreview: optional(boolean),
};
const eventFields = {
  jobId: nonEmpty,
  sourceId: nonEmpty,
  eventId: nonEmpty,
  eventName: string(),
  receivedAt: isoTime,
  ...renderedFields,
};
const target = { portal: nonEmpty, openLineCode: nonEmpty };
const whenLimited = oneOf(WHEN_LIMITED);
const notification = strictObject({ message: nonEmpty, attach: optional(anything), tag: nonEmpty });

/** Each version a job may come in, and how it reads as version 3. */
const VERSIONS: { shape: Shape; read: (job: Record<string, unknown>) => QueueMessage }[] = [
  {
    shape: strictObject({
      v: literal(3),
      kind: literal("event"),
      ...eventFields,
      whenLimited,
      notify: optional(notification),
      ...target,
    }),
    read: (job) => job as unknown as EventJob,
  },
  {
    shape: strictObject({
      v: literal(3),
      kind: literal("flush"),
      userId: positiveInteger,
      ...target,
    }),
    read: (job) => job as unknown as FlushJob,
  },
  {
    shape: strictObject({ v: literal(1), ...eventFields }),
    read: ({ v: _v, ...job }) =>
      ({ v: 3, kind: "event", ...job, whenLimited: "digest" }) as EventJob,
  },
  {
    shape: strictObject({
      v: literal(2),
      kind: literal("event"),
      ...eventFields,
      whenLimited: oneOf(["digest", "drop"]),
    }),
    read: ({ v: _v, ...job }) => ({ ...job, v: 3 }) as EventJob,
  },
  {
    shape: strictObject({ v: literal(2), kind: literal("flush"), userId: positiveInteger }),
    read: ({ v: _v, ...job }) => ({ ...job, v: 3 }) as FlushJob,
  },
];

/**
 * Reads a queue message (parsed JSON) as a version 3 job, or answers that it is none.
 *
 * @example queueMessageReader.safeParse(JSON.parse(record.body)) // { success: true, data: job }
 */
export const queueMessageReader = {
  safeParse(value: unknown): { success: true; data: QueueMessage } | { success: false } {
    for (const { shape, read } of VERSIONS) {
      const checked = shape(value);
      if (checked.ok) {
        return { success: true, data: read(checked.value as Record<string, unknown>) };
      }
    }
    return { success: false };
  },
  parse(value: unknown): QueueMessage {
    const result = queueMessageReader.safeParse(value);
    if (!result.success) throw new TypeError("not a hookline queue message");
    return result.data;
  },
};

/**
 * A queue message as its queue's body: its JSON, with U+FFFE and U+FFFF written as `\uFFFE` and
 * `\uFFFF`. SQS refuses a message holding either (it takes #x9, #xA, #xD, #x20-#xD7FF,
 * #xE000-#xFFFD and #x10000-#x10FFFF), and `JSON.stringify` escapes control characters and lone
 * surrogates but not these two: a sender's text holding one made every try of the event a 503
 * (docs/security.md). `JSON.parse` reads the same job back. Ingest measures a job's size on this
 * text, the one sent: each such character is 6 bytes here, not 3.
 */
export const queueMessageText = (message: QueueMessage): string =>
  JSON.stringify(message).replace(/[\uFFFE\uFFFF]/g, (c) => `\\u${c.charCodeAt(0).toString(16)}`);

export const jobIdFor = (sourceId: string, eventId: string, routeIndex: number): string =>
  `${sourceId}:${eventId}:${routeIndex}`;
