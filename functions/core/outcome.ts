/** What finally happened to one message. */
export const OUTCOMES = ["sent", "suppressed", "limited", "failed", "unknown"] as const;
export type Outcome = (typeof OUTCOMES)[number];

export interface OutcomeRecord {
  jobId: string;
  sourceId: string;
  eventId: string;
  eventName: string;
  outcome: Outcome;
  /** Why, in a few words: `weekly slot used by <jobId>`, `bitrix CODE_ERROR`, `template: ...`. */
  reason: string;
  userId?: number;
  /** Bitrix24 error code, when there was one. */
  bitrixCode?: string;
  at: Date;
}
