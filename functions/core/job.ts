import * as z from "zod";

/**
 * One rendered, validated message waiting in the queue. The queue body is this JSON; it is
 * parsed with the schema on the deliver side, so a malformed message fails loudly, not silently.
 */
export const deliveryJobSchema = z.strictObject({
  v: z.literal(1),
  /** `<sourceId>:<eventId>:<route index>`: stable across redeliveries of the queue message. */
  jobId: z.string().min(1),
  sourceId: z.string().min(1),
  eventId: z.string().min(1),
  eventName: z.string(),
  /** ISO time the webhook was received, for delivery latency. */
  receivedAt: z.iso.datetime(),
  userId: z.number().int().positive(),
  message: z.string().min(1),
  attach: z.unknown().optional(),
  keyboard: z.unknown().optional(),
  urlPreview: z.boolean().optional(),
});

export type DeliveryJob = z.infer<typeof deliveryJobSchema>;

/** The message part of a job: what Bitrix24 receives. */
export type RenderedMessage = Pick<
  DeliveryJob,
  "userId" | "message" | "attach" | "keyboard" | "urlPreview"
>;

export const jobIdFor = (sourceId: string, eventId: string, routeIndex: number): string =>
  `${sourceId}:${eventId}:${routeIndex}`;
