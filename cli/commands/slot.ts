import type { Command } from "commander";
import { makeDynamoInspection, type SlotView } from "../../functions/adapters/dynamo/inspection";
import { makeDynamoOutcomeStore } from "../../functions/adapters/dynamo/outcomes";
import { resolveTarget as routeTarget } from "../../functions/core/portals";
import type { SlotKey } from "../../functions/core/ports";
import { timeText } from "../../functions/local/inbox/html";
import {
  type CliContext,
  configFor,
  onTarget,
  positiveInteger,
  type TargetFlags,
  withTargetFlags,
} from "../context";
import { CliError } from "../errors";
import { type Output, shownId } from "../output";
import { callLocal, type Target } from "../target";

/** A user's weekly slot as the ledger keeps it (functions/adapters/dynamo/inspection.ts). */
export interface SlotReport {
  portal: string;
  openLineCode: string;
  userId: number;
  /** `free` (no item, or no state), `pending` (an attempt holds a lease) or `sent`. */
  state: "free" | "pending" | "sent";
  sentAt?: string;
  /** When the next message may go (ISO): the week after `sentAt`, plus the margin. */
  freeAt?: string;
  leaseUntil?: string;
  holderJob?: string;
  /** An attempt whose fate is unknown may have landed then (ambiguity evidence). */
  maybeSentAt?: string;
  limitedTries?: number;
  digestId?: string;
  /** With --reset: what was cleared. */
  reset?: { slot: boolean; simulator: boolean; digestEvents: number };
}

/** Reads the slot with a consistent read. */
export async function readSlot(target: Target, key: SlotKey): Promise<SlotReport> {
  return slotReport(key, await makeDynamoInspection(target.dynamo, target.tableName).slot(key));
}

/**
 * Clears a user's slot on the local run: the slot item, and the simulator's record of the
 * user's week, so the next event is sent at once (to try a template again). Never on a stack:
 * the real portal keeps its own week, and clearing our record would only make us meet its
 * USER_MESSAGE_LIMIT.
 */
export async function resetSlot(
  target: Target,
  key: SlotKey,
  forgetInSimulator: () => Promise<boolean>,
  now: Date,
): Promise<NonNullable<SlotReport["reset"]>> {
  if (target.kind !== "local")
    throw new CliError("--reset works on the local run only: a real portal keeps its own week");
  const slot = await makeDynamoInspection(target.dynamo, target.tableName).clearSlot(key);
  const simulator = await forgetInSimulator();
  // The user's pending digest need not wait for a week that is gone: the sweeper sends it now.
  const outcomes = makeDynamoOutcomeStore(target.dynamo, target.tableName);
  const pending = await outcomes.pending(key);
  if (pending.length > 0)
    await outcomes.reschedule(
      pending.map((event) => event.jobId),
      now,
      "slot reset with hookline slot --reset",
    );
  return { slot, simulator, digestEvents: pending.length };
}

/** The slot as the CLI shows it: times as ISO strings. */
export function slotReport(key: SlotKey, view: SlotView): SlotReport {
  const report: SlotReport = { ...key, state: view.state };
  for (const [name, value] of Object.entries(view))
    if (name !== "state" && value !== undefined)
      Object.assign(report, { [name]: value instanceof Date ? value.toISOString() : value });
  return report;
}

export function printSlot(report: SlotReport, output: Output, now: Date): void {
  const { style } = output;
  if (report.reset) {
    output.line(
      `${style.green("reset")} user ${report.userId}: slot ${report.reset.slot ? "cleared" : "was already free"}${report.reset.simulator ? ", simulator's week forgotten" : ""}${report.reset.digestEvents > 0 ? `, pending digest of ${report.reset.digestEvents} event(s) due now` : ""}`,
    );
    return;
  }
  const free = report.freeAt === undefined || Date.parse(report.freeAt) <= now.getTime();
  const headline =
    report.state === "sent"
      ? `${style.yellow("used")}: sent ${timeText(report.sentAt ?? "")}`
      : report.state === "pending"
        ? `${style.cyan("pending")}: an attempt holds it until ${timeText(report.leaseUntil ?? "")}`
        : style.green("free");
  output.line(
    `user ${report.userId} on ${report.portal}, open line ${report.openLineCode}: ${headline}`,
  );
  if (report.freeAt && !free)
    output.line(`  next message possible from ${timeText(report.freeAt)}`);
  // Job and digest ids hold the sender's event id: no control character reaches the terminal.
  if (report.holderJob) output.line(`  by ${shownId(report.holderJob)}`);
  if (report.digestId) output.line(`  digest ${shownId(report.digestId)}`);
  if (report.maybeSentAt)
    output.line(`  an unanswered attempt may have landed at ${timeText(report.maybeSentAt)}`);
  if (report.limitedTries)
    output.line(`  USER_MESSAGE_LIMIT answers so far: ${report.limitedTries}`);
}

export function registerSlot(program: Command, ctx: CliContext): void {
  withTargetFlags(program.command("slot"))
    .description(
      "a user's weekly slot; on the local run, --reset clears it to try a template again",
    )
    .argument("<userId>", "the Bitrix24 user id", positiveInteger)
    .option("--reset", "clear the slot (local run only), and the simulator's week for the user")
    .option("--portal <id>", "the portal (default: the config's first)")
    .option("--line <name>", "the open line (default: the portal's first)")
    .action(
      async (
        userId: number,
        flags: TargetFlags & { reset?: boolean; portal?: string; line?: string },
      ) => {
        const { config } = configFor(ctx, flags);
        const resolved = routeTarget(config.portals, {
          portal: flags.portal,
          openLine: flags.line,
        });
        if ("problem" in resolved)
          throw new CliError(
            `--${resolved.key === "portal" ? "portal" : "line"}: ${resolved.problem}`,
          );
        const key = { portal: resolved.portal, openLineCode: resolved.openLineCode, userId };
        await onTarget(ctx, flags, async (output, where) => {
          const report = await readSlot(where, key);
          if (flags.reset) {
            const forget = `/_local/simulator/forget?user=${userId}`;
            report.reset = await resetSlot(
              where,
              key,
              async () => Boolean((await callLocal(ctx.io, where, "POST", forget)).forgotten),
              ctx.io.now(),
            );
          }
          output.document({ target: where.label, ...report });
          printSlot(report, output, ctx.io.now());
        });
      },
    );
}
