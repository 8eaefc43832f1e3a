import {
  ListMessageMoveTasksCommand,
  SQSClient,
  StartMessageMoveTaskCommand,
} from "@aws-sdk/client-sqs";
import type { Command } from "commander";
import {
  type CliContext,
  outputFor,
  type SqsSender,
  type TargetFlags,
  targetFor,
  withTargetFlags,
} from "../context";
import { CliError } from "../errors";
import type { Output } from "../output";
import { callLocal, type Target } from "../target";

export interface ReplayReport {
  target: string;
  /** What was replayed: every dead letter, or one event's. */
  scope: "dead-letters" | { event: string };
  moved: number;
  /** A stack's move task: its handle and final status. */
  task?: { handle: string; status: string; toMove?: number };
}

export interface ReplayDeps {
  /** POSTs to the local run's `/_local/` endpoints. */
  callLocal: (path: string) => Promise<Record<string, unknown>>;
  sqs?: SqsSender;
  sleep?: (ms: number) => Promise<void>;
  /** Told of each progress poll of a stack's move task. */
  progress?: (moved: number, toMove: number | undefined) => void;
}

const POLL_MS = 2_000;
/** A move task of a few thousand messages finishes within minutes; give up watching after this. */
const MAX_POLLS = 300;

/**
 * `hookline replay`: dead letters back to the delivery queue, through the ledger again (the
 * weekly rules still hold: a redriven message claims the slot like any other, and only an
 * exhausted `failed` outcome may be replaced).
 * - local: the in-process dead-letter queue, all of it or one event's (`--event source:id`);
 * - stack: SQS `StartMessageMoveTask` from the dead-letter queue back to its source queue,
 *   watched until it completes.
 */
export async function replay(
  target: Target,
  scope: ReplayReport["scope"],
  deps: ReplayDeps,
): Promise<ReplayReport> {
  if (target.kind === "local") {
    const query = scope === "dead-letters" ? "" : `?event=${encodeURIComponent(scope.event)}`;
    const answer = await deps.callLocal(`/_local/dead-letters/replay${query}`);
    return { target: target.label, scope, moved: Number(answer.moved ?? 0) };
  }
  if (scope !== "dead-letters") {
    throw new CliError(
      "replay --event works on the local run; on a stack, replay --dead-letters moves every dead letter back",
    );
  }
  if (!target.deadLetterQueueArn)
    throw new CliError(`${target.label} has no DeadLetterQueueArn output`);
  const sqs = deps.sqs ?? new SQSClient(target.region ? { region: target.region } : {});
  const sleep = deps.sleep ?? ((ms: number) => new Promise((resolve) => setTimeout(resolve, ms)));
  const started = (await sqs.send(
    new StartMessageMoveTaskCommand({ SourceArn: target.deadLetterQueueArn }),
  )) as { TaskHandle?: string };
  const handle = started.TaskHandle ?? "";
  for (let poll = 0; poll < MAX_POLLS; poll++) {
    const listed = (await sqs.send(
      new ListMessageMoveTasksCommand({ SourceArn: target.deadLetterQueueArn, MaxResults: 1 }),
    )) as {
      Results?: {
        TaskHandle?: string;
        Status?: string;
        ApproximateNumberOfMessagesMoved?: number;
        ApproximateNumberOfMessagesToMove?: number;
        FailureReason?: string;
      }[];
    };
    const task = listed.Results?.[0];
    const moved = task?.ApproximateNumberOfMessagesMoved ?? 0;
    const toMove = task?.ApproximateNumberOfMessagesToMove;
    deps.progress?.(moved, toMove);
    const status = task?.Status ?? "UNKNOWN";
    if (status === "FAILED")
      throw new CliError(`the move task failed: ${task?.FailureReason ?? "no reason given"}`);
    if (status === "COMPLETED" || status === "CANCELLED") {
      return {
        target: target.label,
        scope,
        moved,
        task: { handle, status, ...(toMove === undefined ? {} : { toMove }) },
      };
    }
    await sleep(POLL_MS);
  }
  throw new CliError(`the move task ${handle} is still running; see the SQS console`);
}

export function printReplay(report: ReplayReport, output: Output): void {
  const what =
    report.scope === "dead-letters" ? "dead letters" : `dead letters of ${report.scope.event}`;
  output.line(
    `${output.style.green("replayed")} ${report.moved} ${what} from ${report.target}${report.task ? ` (move task ${report.task.status})` : ""}`,
  );
  if (report.moved === 0 && report.scope !== "dead-letters")
    output.line(
      "  nothing to replay: the event has no dead letter (an unknown outcome keeps no message; send the webhook again)",
    );
}

export function registerReplay(program: Command, ctx: CliContext): void {
  withTargetFlags(program.command("replay"))
    .description("send dead letters, or one event's, through the ledger again")
    .option("--dead-letters", "every dead letter")
    .option("--event <source:id>", "one event's dead letters (local run)")
    .action(async (flags: TargetFlags & { deadLetters?: boolean; event?: string }) => {
      const output = outputFor(ctx, flags);
      if (Boolean(flags.deadLetters) === (flags.event !== undefined))
        throw new CliError("say what to replay: --dead-letters or --event <source>:<id>");
      if (flags.event !== undefined && !/^[^:]+:.+$/.test(flags.event))
        throw new CliError(`--event ${flags.event}: write it as <source>:<event id>`);
      const where = await targetFor(ctx, flags);
      const report = await replay(
        where,
        flags.event === undefined ? "dead-letters" : { event: flags.event },
        {
          callLocal: (path) => callLocal(ctx.io, where, "POST", path),
          ...(ctx.options.sqs ? { sqs: ctx.options.sqs } : {}),
          ...(ctx.options.sleep ? { sleep: ctx.options.sleep } : {}),
          progress: (moved, toMove) =>
            output.line(
              output.style.dim(`  moved ${moved}${toMove === undefined ? "" : ` of ${toMove}`}`),
            ),
        },
      );
      where.dynamo.destroy();
      output.document(report);
      printReplay(report, output);
    });
}
