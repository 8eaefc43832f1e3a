import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type { Command } from "commander";
import {
  type LedgerInspection,
  makeDynamoInspection,
  type OutcomeQuery,
} from "../../functions/adapters/dynamo/inspection";
import type { Config } from "../../functions/core/config";
import { ConfigError } from "../../functions/core/errors";
import { jobIdFor } from "../../functions/core/job";
import {
  OUTCOMES,
  type OutcomeRecord,
  type OutcomeView,
  outcomeView,
} from "../../functions/core/outcome";
import { timeText } from "../../functions/local/inbox/html";
import { unknownSource } from "../config";
import {
  type CliContext,
  configFor,
  onTarget,
  positiveInteger,
  type TargetFlags,
  withTargetFlags,
} from "../context";
import { CliError } from "../errors";
import type { Output } from "../output";

/** Which events `hookline events` lists: at most `limit` of them. */
export type EventFilter = OutcomeQuery;

/** One event and the outcome of each of its messages (one per matching route). */
export interface EventListing {
  sourceId: string;
  eventId: string;
  eventName: string;
  /** The latest change of any of its messages (ISO). */
  at: string;
  messages: (OutcomeView & { bitrixCode?: string })[];
}

/**
 * `hookline events`: the latest outcomes (by the time of their latest state, read from the
 * table's `events` index through {@link makeDynamoInspection}), newest first, grouped by event.
 * Filters apply to the outcomes; an event is listed when one of its messages passes. A deployed
 * stack's index lists no `sent` outcomes (docs/cost.md): {@link lookUpEvent} finds those.
 */
export async function listEvents(
  dynamo: DynamoDBClient,
  tableName: string,
  filter: EventFilter,
): Promise<EventListing[]> {
  const inspection = makeDynamoInspection(dynamo, tableName);
  return listing(inspection, await inspection.recentOutcomes(filter), filter.limit);
}

/**
 * `hookline events --event <source>:<id>`: every message of one event, read by key whether the
 * index lists it or not. Its jobs are `<source>:<id>:<route>`, one per route index below
 * `routes`.
 */
export async function lookUpEvent(
  dynamo: DynamoDBClient,
  tableName: string,
  event: { sourceId: string; eventId: string; routes: number },
): Promise<EventListing[]> {
  const inspection = makeDynamoInspection(dynamo, tableName);
  const jobIds = Array.from({ length: event.routes }, (_, route) =>
    jobIdFor(event.sourceId, event.eventId, route),
  );
  return listing(inspection, await inspection.outcomesOf(jobIds), 1);
}

/** Outcomes (newest first) grouped by event, at most `limit` events, with their notifications. */
async function listing(
  inspection: LedgerInspection,
  newestFirst: readonly OutcomeRecord[],
  limit: number,
): Promise<EventListing[]> {
  const events = new Map<string, EventListing>();
  for (const record of newestFirst) {
    const key = `${record.sourceId}\u0000${record.eventId}`;
    let event = events.get(key);
    if (!event) {
      if (events.size >= limit) continue;
      event = {
        sourceId: record.sourceId,
        eventId: record.eventId,
        eventName: record.eventName,
        at: record.at.toISOString(),
        messages: [],
      };
      events.set(key, event);
    }
    event.messages.push(messageOf(record));
  }
  const messages = [...events.values()].flatMap((event) => event.messages);
  // The second channel's deliveries are not in the index: read them for the listed messages.
  const notified = await inspection.notifications(messages.map((message) => message.jobId));
  for (const message of messages) {
    const found = notified.get(message.jobId);
    if (!found) continue;
    message.notifiedAt = found.notifiedAt.toISOString();
    if (found.notifyTag !== undefined) message.notifyTag = found.notifyTag;
  }
  for (const event of events.values())
    event.messages.sort((a, b) => a.jobId.localeCompare(b.jobId));
  return [...events.values()];
}

function messageOf(record: OutcomeRecord): EventListing["messages"][number] {
  const view = outcomeView(record);
  return record.bitrixCode === undefined ? view : { ...view, bitrixCode: record.bitrixCode };
}

/**
 * What the table says of one message: its reason (or when its digest is due), after the first
 * delivery when the event reached the user as a notification too, so both deliveries show.
 */
function deliveriesText(message: EventListing["messages"][number]): string {
  const latest = message.dueAt ? `digest due ${timeText(message.dueAt)}` : message.reason;
  if (message.notifiedAt === undefined) return latest;
  const notified = `notified ${timeText(message.notifiedAt)} (tag ${message.notifyTag ?? "?"})`;
  return message.outcome === "notified" ? `${notified}; ${latest}` : `${notified}, then ${latest}`;
}

/** `90s`, `15m`, `1h`, `2d` -> milliseconds. */
export function parseSince(text: string): number | undefined {
  const match = /^(\d+)(s|m|h|d)$/.exec(text.trim());
  if (!match) return undefined;
  const unit = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[
    match[2] as "s" | "m" | "h" | "d"
  ];
  return Number(match[1]) * unit;
}

export function printEvents(events: readonly EventListing[], output: Output, label: string): void {
  const { style } = output;
  if (events.length === 0) {
    output.line(`no events in ${label} for these filters`);
    return;
  }
  output.table(
    ["time", "source", "event", "id", "message", "outcome", "user", "reason"],
    events.flatMap((event) =>
      event.messages.map((message, index) => [
        index === 0 ? timeText(event.at) : "",
        index === 0 ? event.sourceId : "",
        index === 0 ? event.eventName : "",
        index === 0 ? event.eventId : "",
        message.jobId.slice(message.jobId.lastIndexOf(":") + 1),
        message.outcome,
        message.userId === undefined ? "" : String(message.userId),
        deliveriesText(message),
      ]),
    ),
  );
  output.line(style.dim(`${events.length} event(s) from ${label}, newest first`));
}

export function registerEvents(program: Command, ctx: CliContext): void {
  withTargetFlags(program.command("events"))
    .description("recent events, newest first, with each message's outcome and reason")
    .option("--source <id>", "only this source")
    .option("--user <id>", "only messages to this Bitrix24 user", positiveInteger)
    .option("--outcome <outcome>", `only this outcome (${OUTCOMES.join(", ")})`)
    .option("--since <age>", "how far back, e.g. 15m, 1h, 2d", "24h")
    .option("--limit <n>", "at most this many events", positiveInteger, 50)
    .option("--event <source:id>", "one event, by its source and id, whatever its outcome")
    .action(
      async (
        flags: TargetFlags & {
          source?: string;
          user?: number;
          outcome?: string;
          since: string;
          limit: number;
          event?: string;
        },
      ) => {
        if (flags.event !== undefined) return showEvent(ctx, flags, flags.event);
        const sinceMs = parseSince(flags.since);
        if (sinceMs === undefined)
          throw new CliError(`--since ${flags.since}: use a number and s, m, h or d, e.g. 1h`);
        if (flags.outcome !== undefined && !(OUTCOMES as readonly string[]).includes(flags.outcome))
          throw new CliError(`--outcome ${flags.outcome}: one of ${OUTCOMES.join(", ")}`);
        if (flags.source !== undefined) checkSourceId(ctx, flags, flags.source);
        await onTarget(ctx, flags, async (output, where) => {
          const events = await listEvents(where.dynamo, where.tableName, {
            ...(flags.source === undefined ? {} : { source: flags.source }),
            ...(flags.user === undefined ? {} : { userId: flags.user }),
            ...(flags.outcome === undefined ? {} : { outcome: flags.outcome }),
            since: new Date(ctx.io.now().getTime() - sinceMs),
            limit: flags.limit,
          });
          output.document({ target: where.label, events });
          printEvents(events, output, where.label);
          // A deployed stack's index holds what needs a look (docs/cost.md).
          if (flags.stack !== undefined && flags.outcome !== "deferred")
            output.line(output.style.dim(UNLISTED_SENT));
        });
      },
    );
}

/** Said under a stack's listing: where its sent messages are. */
export const UNLISTED_SENT =
  "sent messages are not listed on a deployed stack (its events index keeps what needs a look); --event <source>:<id> shows any event";

/** `--event <source>:<id>`: one event's messages, read by key. */
async function showEvent(ctx: CliContext, flags: TargetFlags, text: string): Promise<void> {
  const colon = text.indexOf(":");
  const sourceId = text.slice(0, colon);
  const eventId = text.slice(colon + 1);
  if (colon <= 0 || eventId === "")
    throw new CliError(`--event ${text}: use <source>:<id>, e.g. stripe:evt_1NG8Du2eZvKYlo2C`);
  checkSourceId(ctx, flags, sourceId);
  const routes = routeCount(ctx, flags);
  await onTarget(ctx, flags, async (output, where) => {
    const events = await lookUpEvent(where.dynamo, where.tableName, { sourceId, eventId, routes });
    output.document({ target: where.label, events });
    if (events.length === 0) output.line(`no outcome for ${sourceId}:${eventId} in ${where.label}`);
    else printEvents(events, output, where.label);
  });
}

/**
 * Route indexes to look under: at least the first 100 (one BatchGetItem; the config read here
 * may not be the one that ran), more when the config has more routes.
 */
function routeCount(ctx: CliContext, flags: TargetFlags): number {
  try {
    return Math.max(ROUTES_LOOKED_UP, configFor(ctx, flags).config.routes.length);
  } catch (error) {
    if (flags.config === undefined && error instanceof ConfigError) return ROUTES_LOOKED_UP;
    throw error;
  }
}

const ROUTES_LOOKED_UP = 100;

/**
 * An unknown `--source` is an error with a "did you mean", not an empty listing. Checked against
 * the config (`--config`, else as start reads it); without a readable default config (e.g. only
 * `--stack` in another directory) the listing goes ahead unchecked.
 */
function checkSourceId(ctx: CliContext, flags: TargetFlags, sourceId: string): void {
  let config: Config;
  try {
    ({ config } = configFor(ctx, flags));
  } catch (error) {
    if (flags.config === undefined && error instanceof ConfigError) return;
    throw error;
  }
  if (!config.sources.some((source) => source.id === sourceId))
    throw new CliError(`--source ${sourceId}: ${unknownSource(config, sourceId)}`);
}
