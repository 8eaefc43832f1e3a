import {
  DeleteMessageCommand,
  ListMessageMoveTasksCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
  StartMessageMoveTaskCommand,
} from "@aws-sdk/client-sqs";
import type { Command } from "commander";
import { makeDynamoOutcomeStore } from "../../functions/adapters/dynamo/outcomes";
import {
  type CliContext,
  onTarget,
  type SqsSender,
  type TargetFlags,
  withTargetFlags,
} from "../context";
import { CliError } from "../errors";
import { type Output, shownId } from "../output";
import { callLocal, type Target } from "../target";

export interface ReplayReport {
  target: string;
  /** What was replayed: every dead letter, or one event's. */
  scope: "dead-letters" | { event: string };
  moved: number;
  /** `--resend-unknown`: the jobs whose `unknown` outcome the operator chose to send again. */
  resendable?: string[];
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
 *   watched until it completes; or one event's messages, found by scanning the dead letters.
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
  const sqs = deps.sqs ?? new SQSClient(target.region ? { region: target.region } : {});
  if (scope !== "dead-letters") return replayEvent(target, scope.event, sqs, deps);
  if (!target.deadLetterQueueArn)
    throw new CliError(`${target.label} has no DeadLetterQueueArn output`);
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

/** Receives of the dead-letter queue one replay makes at most (10 messages each). */
const MAX_RECEIVES = 100;
/** How long the messages of other events stay hidden from this scan before SQS shows them again. */
const SCAN_VISIBILITY_SECONDS = 30;

/**
 * One event's dead letters on a stack: scans the dead-letter queue, sends each message of that
 * event (its job id starts with `<source>:<event id>:`) back to the delivery queue as it was, and
 * deletes it from the dead letters only then. Other messages stay where they are; they only
 * reappear a little later.
 */
async function replayEvent(
  target: Target,
  event: string,
  sqs: SqsSender,
  deps: ReplayDeps,
): Promise<ReplayReport> {
  const { deadLetterQueueUrl, deliveryQueueUrl } = target;
  if (!deadLetterQueueUrl || !deliveryQueueUrl) {
    throw new CliError(
      `${target.label} lacks the DeadLetterQueueUrl or DeliveryQueueUrl output: deploy the current stack`,
    );
  }
  const prefix = `${event}:`;
  const seen = new Set<string>();
  let moved = 0;
  for (let receive = 0; receive < MAX_RECEIVES; receive++) {
    const answer = (await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: deadLetterQueueUrl,
        MaxNumberOfMessages: 10,
        VisibilityTimeout: SCAN_VISIBILITY_SECONDS,
        WaitTimeSeconds: 1,
      }),
    )) as { Messages?: { MessageId?: string; ReceiptHandle?: string; Body?: string }[] };
    const messages = (answer.Messages ?? []).filter((m) => !seen.has(m.MessageId ?? ""));
    if (messages.length === 0) break;
    for (const message of messages) {
      seen.add(message.MessageId ?? "");
      if (!jobIdOf(message.Body).startsWith(prefix)) continue;
      await sqs.send(
        new SendMessageCommand({ QueueUrl: deliveryQueueUrl, MessageBody: message.Body }),
      );
      await sqs.send(
        new DeleteMessageCommand({
          QueueUrl: deadLetterQueueUrl,
          ReceiptHandle: message.ReceiptHandle,
        }),
      );
      moved++;
      deps.progress?.(moved, undefined);
    }
  }
  return { target: target.label, scope: { event }, moved };
}

/** Route indexes tried for one event's jobs (`<source>:<event id>:<route index>`). */
const MAX_ROUTES = 100;

/**
 * `--resend-unknown`: the operator's explicit choice to send an event's `unknown` messages again
 * (docs/ledger.md, "Operator choices"). Their outcomes become replaceable, as an exhausted
 * `failed` is, so the replay that follows sends them through the ledger once more.
 */
export function allowResendOfUnknown(target: Target, event: string): Promise<string[]> {
  const jobIds = Array.from({ length: MAX_ROUTES }, (_, route) => `${event}:${route}`);
  return makeDynamoOutcomeStore(target.dynamo, target.tableName).allowResend(jobIds);
}

function jobIdOf(body: string | undefined): string {
  try {
    const job = JSON.parse(body ?? "") as { jobId?: unknown };
    return typeof job.jobId === "string" ? job.jobId : "";
  } catch {
    return "";
  }
}

export function printReplay(report: ReplayReport, output: Output): void {
  const what =
    report.scope === "dead-letters" ? "dead letters" : `dead letters of ${report.scope.event}`;
  output.line(
    `${output.style.green("replayed")} ${report.moved} ${what} from ${report.target}${report.task ? ` (move task ${report.task.status})` : ""}`,
  );
  if (report.resendable)
    output.line(
      `  unknown outcomes to send again: ${report.resendable.length ? report.resendable.map(shownId).join(", ") : "none"}`,
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
    .option(
      "--resend-unknown",
      "with --event: send its unknown messages again (they may reach the user twice)",
    )
    .action(
      async (
        flags: TargetFlags & { deadLetters?: boolean; event?: string; resendUnknown?: boolean },
      ) => {
        if (Boolean(flags.deadLetters) === (flags.event !== undefined))
          throw new CliError("say what to replay: --dead-letters or --event <source>:<id>");
        if (flags.event !== undefined && !/^[^:]+:.+$/.test(flags.event))
          throw new CliError(`--event ${flags.event}: write it as <source>:<event id>`);
        if (flags.resendUnknown && flags.event === undefined)
          throw new CliError("--resend-unknown needs --event <source>:<id>: one event at a time");
        await onTarget(ctx, flags, async (output, where) => {
          const resendable =
            flags.resendUnknown && flags.event !== undefined
              ? await allowResendOfUnknown(where, flags.event)
              : undefined;
          const replayed = await replay(
            where,
            flags.event === undefined ? "dead-letters" : { event: flags.event },
            {
              callLocal: (path) => callLocal(ctx.io, where, "POST", path),
              ...(ctx.options.sqs ? { sqs: ctx.options.sqs } : {}),
              ...(ctx.options.sleep ? { sleep: ctx.options.sleep } : {}),
              progress: (moved, toMove) =>
                output.line(
                  output.style.dim(
                    `  moved ${moved}${toMove === undefined ? "" : ` of ${toMove}`}`,
                  ),
                ),
            },
          );
          const report = resendable ? { ...replayed, resendable } : replayed;
          output.document(report);
          printReplay(report, output);
        });
      },
    );
}
