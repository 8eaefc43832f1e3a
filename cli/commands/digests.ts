import type { Command } from "commander";
import { type PendingDigest, pendingDigests } from "../../devkit/pending-digests";
import { makeDynamoOutcomeStore } from "../../functions/adapters/dynamo/outcomes";
import { timeText } from "../../functions/local/inbox/html";
import {
  type CliContext,
  onTarget,
  positiveInteger,
  type TargetFlags,
  withTargetFlags,
} from "../context";
import type { Output } from "../output";
import type { Target } from "../target";

/** `hookline digests`: pending digests, their events, and when each is due. */
export function listDigests(target: Target, now: Date, userId?: number): Promise<PendingDigest[]> {
  const outcomes = makeDynamoOutcomeStore(target.dynamo, target.tableName);
  return pendingDigests(outcomes, now, userId === undefined ? {} : { userId });
}

export function printDigests(
  digests: readonly PendingDigest[],
  output: Output,
  label: string,
): void {
  const { style } = output;
  if (digests.length === 0) {
    output.line(`no pending digests in ${label}`);
    return;
  }
  for (const digest of digests) {
    output.line(
      `${style.bold(`user ${digest.userId}`)}  ${digest.events.length} event(s), due ${style.cyan(digest.dueAt ? timeText(digest.dueAt) : "unknown")}  ${style.dim(`(open line ${digest.openLineCode} on ${digest.portal})`)}`,
    );
    output.table(
      ["received", "source", "event", "id", "notified"],
      digest.events.map((event) => [
        timeText(event.receivedAt),
        event.sourceId,
        event.eventName,
        event.eventId,
        event.notifiedAt ? timeText(event.notifiedAt) : "",
      ]),
    );
    output.line();
  }
}

export function registerDigests(program: Command, ctx: CliContext): void {
  withTargetFlags(program.command("digests"))
    .description("pending digests: their events and when each is due")
    .option("--user <id>", "only this Bitrix24 user", positiveInteger)
    .action((flags: TargetFlags & { user?: number }) =>
      onTarget(ctx, flags, async (output, where) => {
        const digests = await listDigests(where, ctx.io.now(), flags.user);
        output.document({ target: where.label, digests });
        printDigests(digests, output, where.label);
      }),
    );
}
