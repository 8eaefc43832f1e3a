import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import type {
  DeleteMessageCommand,
  ListMessageMoveTasksCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  StartMessageMoveTaskCommand,
} from "@aws-sdk/client-sqs";
import { type Command, InvalidArgumentError } from "commander";
import type { Config } from "../functions/core/config";
import type { SubscriptionCounter } from "./alarm-subscribers";
import { loadCliConfig } from "./config";
import { CliError } from "./errors";
import { type Io, Output } from "./output";
import { resolveTarget, type StackOutputsReader, type Target } from "./target";
import type { ConfigWarner } from "./warnings";

export type { ConfigWarner, ConfigWarning } from "./warnings";

/**
 * What every command's registration gets: where it writes and what it may reach (`io`), the
 * test seams (`options`), and the helpers that make the flags mean the same in every command.
 */
export interface CliContext {
  io: Io;
  options: ProgramOptions;
}

/** The SQS calls `replay` makes against a stack; tests pass a small fake. */
export interface SqsSender {
  send(
    command:
      | StartMessageMoveTaskCommand
      | ListMessageMoveTasksCommand
      | ReceiveMessageCommand
      | SendMessageCommand
      | DeleteMessageCommand,
  ): Promise<unknown>;
}

export interface ProgramOptions {
  /** Config checks for `check`; default: event names the senders never send, with a "did you mean". */
  warners?: readonly ConfigWarner[];
  /** Reads a stack's outputs (default: CloudFormation); tests pass a fake. */
  readOutputs?: StackOutputsReader;
  /** Confirmed subscriptions of a stack's alarm topic (default: SNS); tests pass a fake. */
  alarmSubscriptions?: SubscriptionCounter;
  /** The SQS client for a stack's replay (default: the SDK's); tests pass a fake. */
  sqs?: SqsSender;
  sleep?: (ms: number) => Promise<void>;
}

/** Flags every command takes. */
export interface CommonFlags {
  config?: string;
  json?: boolean;
}

/** Flags of the commands that work on the local run or a deployed stack. */
export interface TargetFlags extends CommonFlags {
  stack?: string;
  region?: string;
}

export const withCommonFlags = (command: Command): Command =>
  command
    .option("--config <file>", "config file (default: HOOKLINE_CONFIG or hookline.config.json)")
    .option("--json", "print one JSON document instead of text");

export const withTargetFlags = (command: Command): Command =>
  withCommonFlags(command)
    .option(
      "--stack <name>",
      "a deployed stack (its CloudFormation outputs), instead of the local run",
    )
    .option("--region <region>", "the stack's region (default: AWS_REGION)");

export const outputFor = (ctx: CliContext, flags: CommonFlags): Output =>
  new Output(ctx.io, flags.json === true);

/** The config, loaded as start and synth load it (see `loadCliConfig`). */
export const configFor = (ctx: CliContext, flags: CommonFlags): { config: Config; path: string } =>
  loadCliConfig(ctx.io.env, ctx.io.cwd, flags.config);

/** The local run, or the stack of `--stack`. */
export const targetFor = (ctx: CliContext, flags: TargetFlags): Promise<Target> =>
  resolveTarget(
    ctx.io,
    {
      ...(flags.stack === undefined ? {} : { stack: flags.stack }),
      ...(flags.region === undefined ? {} : { region: flags.region }),
    },
    ctx.options.readOutputs,
  );

/**
 * Runs a command on its target (the local run, or the stack of `--stack`) with the output its
 * flags ask for; the target's DynamoDB client is closed when `run` ends, whether it answered or
 * threw. Check the flags first: the target is found only when the command can run.
 *
 * @example .action((flags) => onTarget(ctx, flags, async (output, where) => { … }))
 */
export async function onTarget(
  ctx: CliContext,
  flags: TargetFlags,
  run: (output: Output, where: Target) => Promise<void>,
): Promise<void> {
  const output = outputFor(ctx, flags);
  const where = await targetFor(ctx, flags);
  try {
    await run(output, where);
  } finally {
    where.dynamo.destroy();
  }
}

/** A commander argument parser for user ids and counts. */
export function positiveInteger(text: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value <= 0)
    throw new InvalidArgumentError("must be a positive integer");
  return value;
}

/** A JSON payload file, relative to the working directory; it must hold an object. */
export function readPayload(io: Io, file: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(resolve(io.cwd, file), "utf8"));
  } catch (error) {
    throw new CliError(`cannot read the payload file ${file}: ${(error as Error).message}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw new CliError(`the payload file ${file} must hold a JSON object`);
  return value as Record<string, unknown>;
}
