import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { ConfigError, HooklineError } from "../functions/core/errors";
import { closest } from "../functions/core/event-names";
import { OUTCOMES } from "../functions/core/outcome";
import { resolveTarget as routeTarget } from "../functions/core/portals";
import { readRunState } from "../functions/local/run-state";
import {
  type CheckReport,
  type ConfigWarner,
  checkConfig,
  printCheck,
  unknownEventNames,
} from "./commands/check";
import { listDigests, printDigests } from "./commands/digests";
import { listEvents, parseSince, printEvents } from "./commands/events";
import { authorizePortal, printOAuth } from "./commands/oauth";
import { printRender, renderEvent } from "./commands/render";
import { printReplay, replay, type SqsSender } from "./commands/replay";
import { printSend, sendEvent } from "./commands/send";
import { printSlot, readSlot, resetSlot } from "./commands/slot";
import { loadCliConfig, signingSecret, sourceById } from "./config";
import { CliError, ExitCode } from "./errors";
import { exampleNames, examplePayload } from "./examples";
import { type Io, Output, processIo } from "./output";
import { buildSample } from "./samples";
import { callLocal, resolveTarget, type StackOutputsReader } from "./target";

/** Options every command takes. */
interface CommonOptions {
  config?: string;
  json?: boolean;
}

export interface ProgramOptions {
  /** Config checks for `check`; default: event names the senders never send, with a "did you mean". */
  warners?: readonly ConfigWarner[];
  /** Reads a stack's outputs (default: CloudFormation); tests pass a fake. */
  readOutputs?: StackOutputsReader;
  /** The SQS client for a stack's replay (default: the SDK's); tests pass a fake. */
  sqs?: SqsSender;
  sleep?: (ms: number) => Promise<void>;
}

/**
 * The `hookline` command line. Each command is a small function over the same core code the
 * server runs (config loading, routing, rendering, signing); this file only parses arguments
 * and prints. `--json` on every command prints one JSON document for scripts.
 */
export function buildProgram(io: Io, options: ProgramOptions = {}): Command {
  const program = new Command("hookline")
    .description(
      "Operator tools for hookline: check the config, render and send sample events, inspect the local run or a deployed stack.",
    )
    .showHelpAfterError()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
    })
    .exitOverride();

  const common = (command: Command) =>
    command
      .option("--config <file>", "config file (default: HOOKLINE_CONFIG or hookline.config.json)")
      .option("--json", "print one JSON document instead of text");

  common(program.command("check"))
    .description("validate the config as start and synth do; list sources, routes and warnings")
    .action((flags: CommonOptions) => {
      const output = new Output(io, flags.json === true);
      const { config, path } = loadCliConfig(io.env, io.cwd, flags.config);
      const report: CheckReport = checkConfig(config, path, options.warners ?? [unknownEventNames]);
      output.document(report);
      printCheck(report, output);
    });

  common(program.command("render"))
    .description(
      "route and render an event with no send: the messages, ATTACH, KEYBOARD, and empty variables",
    )
    .argument("<sourceId>", "a source id from the config")
    .requiredOption("--event <name>", "the event name as routes see it, e.g. issues.opened")
    .addOption(new Option("--payload <file>", "a JSON payload file").conflicts("example"))
    .option(
      "--example [name]",
      "the sender's example payload (GitHub's documented examples, hookline's Stripe fixtures); default: --event",
    )
    .addHelpText(
      "after",
      "\nWithout --payload or --example: the example for --event when there is one, else a placeholder payload.",
    )
    .action(
      (
        sourceId: string,
        flags: CommonOptions & { event: string; payload?: string; example?: string | true },
      ) => {
        const output = new Output(io, flags.json === true);
        const { config } = loadCliConfig(io.env, io.cwd, flags.config);
        const source = sourceById(config, sourceId);
        let payload = flags.payload === undefined ? undefined : readPayload(io, flags.payload);
        if (flags.example !== undefined) {
          const name = flags.example === true ? flags.event : flags.example;
          payload = examplePayload(source.type, name);
          if (!payload) throw new CliError(noExample(source.type, name));
        }
        const event = {
          ...buildSample(config, source, {
            eventName: flags.event,
            ...(payload ? { payload } : {}),
          }),
          ...(flags.example === undefined ? {} : { origin: "example" as const }),
        };
        const report = renderEvent(config, source, event, io.now());
        output.document({ ...report, payload: event.origin });
        printRender(report, output);
        if (report.routes.some((route) => route.result === "failed")) throw new ExitCode(1);
      },
    );

  common(program.command("send"))
    .description(
      "sign a sample event with the source's secret and post it to the local run or a URL",
    )
    .argument("<sourceId>", "a source id from the config")
    .option("--event <name>", "the event name (default: the first one a route of the source names)")
    .option(
      "--payload <file>",
      "a JSON payload file (default: the sender's example, else a placeholder)",
    )
    .option("--id <id>", "the event id (default: a fresh one, so each send is a new event)")
    .option(
      "--url <base>",
      "the bridge's base URL (default: the running npm start, else http://127.0.0.1:3000)",
    )
    .option("--stack <name>", "post to a deployed stack's API (its HealthUrl output)")
    .option("--region <region>", "the stack's region (default: AWS_REGION)")
    .action(
      async (
        sourceId: string,
        flags: TargetFlags & { event?: string; payload?: string; id?: string; url?: string },
      ) => {
        const output = new Output(io, flags.json === true);
        const { config } = loadCliConfig(io.env, io.cwd, flags.config);
        const source = sourceById(config, sourceId);
        const event = buildSample(config, source, {
          ...(flags.event === undefined ? {} : { eventName: flags.event }),
          ...(flags.payload === undefined ? {} : { payload: readPayload(io, flags.payload) }),
          ...(flags.id === undefined ? {} : { id: flags.id }),
        });
        const baseUrl = flags.url ?? (flags.stack ? await stackApiUrl(flags) : localUrl(io));
        let report: Awaited<ReturnType<typeof sendEvent>>;
        try {
          report = await sendEvent({
            config,
            source,
            secret: await signingSecret(config, source, io.env),
            event,
            baseUrl,
            fetch: io.fetch,
            now: io.now(),
          });
        } catch (error) {
          if (error instanceof HooklineError) throw error;
          throw new CliError(
            `could not reach ${baseUrl} (${(error as Error).message}); is npm start running? Or pass --url`,
          );
        }
        output.document(report);
        printSend(report, output);
        if (report.status >= 300) throw new ExitCode(1);
      },
    );

  const stackApiUrl = async (flags: TargetFlags): Promise<string> => {
    const where = await target(flags);
    where.dynamo.destroy();
    if (!where.apiUrl) throw new CliError(`${where.label} has no HealthUrl output to find its API`);
    return where.apiUrl;
  };
  const targeted = (command: Command) =>
    common(command)
      .option(
        "--stack <name>",
        "a deployed stack (its CloudFormation outputs), instead of the local run",
      )
      .option("--region <region>", "the stack's region (default: AWS_REGION)");
  const target = (flags: TargetFlags) =>
    resolveTarget(
      io,
      {
        ...(flags.stack === undefined ? {} : { stack: flags.stack }),
        ...(flags.region === undefined ? {} : { region: flags.region }),
      },
      options.readOutputs,
    );

  targeted(program.command("events"))
    .description("recent events, newest first, with each message's outcome and reason")
    .option("--source <id>", "only this source")
    .option("--user <id>", "only messages to this Bitrix24 user", positiveInteger)
    .option("--outcome <outcome>", `only this outcome (${OUTCOMES.join(", ")})`)
    .option("--since <age>", "how far back, e.g. 15m, 1h, 2d", "24h")
    .option("--limit <n>", "at most this many events", positiveInteger, 50)
    .action(
      async (
        flags: TargetFlags & {
          source?: string;
          user?: number;
          outcome?: string;
          since: string;
          limit: number;
        },
      ) => {
        const output = new Output(io, flags.json === true);
        const sinceMs = parseSince(flags.since);
        if (sinceMs === undefined)
          throw new CliError(`--since ${flags.since}: use a number and s, m, h or d, e.g. 1h`);
        if (flags.outcome !== undefined && !(OUTCOMES as readonly string[]).includes(flags.outcome))
          throw new CliError(`--outcome ${flags.outcome}: one of ${OUTCOMES.join(", ")}`);
        const where = await target(flags);
        const events = await listEvents(where.dynamo, where.tableName, {
          ...(flags.source === undefined ? {} : { source: flags.source }),
          ...(flags.user === undefined ? {} : { userId: flags.user }),
          ...(flags.outcome === undefined ? {} : { outcome: flags.outcome }),
          since: new Date(io.now().getTime() - sinceMs),
          limit: flags.limit,
        });
        where.dynamo.destroy();
        output.document({ target: where.label, events });
        printEvents(events, output, where.label);
      },
    );

  targeted(program.command("digests"))
    .description("pending digests: their events and when each is due")
    .option("--user <id>", "only this Bitrix24 user", positiveInteger)
    .action(async (flags: TargetFlags & { user?: number }) => {
      const output = new Output(io, flags.json === true);
      const where = await target(flags);
      const digests = await listDigests(where, io.now(), flags.user);
      where.dynamo.destroy();
      output.document({ target: where.label, digests });
      printDigests(digests, output, where.label);
    });

  targeted(program.command("slot"))
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
        const output = new Output(io, flags.json === true);
        const { config } = loadCliConfig(io.env, io.cwd, flags.config);
        const where = await target(flags);
        const resolved = routeTarget(config.portals, {
          portal: flags.portal,
          openLine: flags.line,
        });
        if ("problem" in resolved)
          throw new CliError(
            `--${resolved.key === "portal" ? "portal" : "line"}: ${resolved.problem}`,
          );
        const key = { portal: resolved.portal, openLineCode: resolved.openLineCode, userId };
        const report = await readSlot(where, key);
        if (flags.reset) {
          report.reset = await resetSlot(
            where,
            key,
            async () =>
              Boolean(
                (await callLocal(io, where, "POST", `/_local/simulator/forget?user=${userId}`))
                  .forgotten,
              ),
            io.now(),
          );
        }
        where.dynamo.destroy();
        output.document({ target: where.label, ...report });
        printSlot(report, output, io.now());
      },
    );

  targeted(program.command("replay"))
    .description("send dead letters, or one event's, through the ledger again")
    .option("--dead-letters", "every dead letter")
    .option("--event <source:id>", "one event's dead letters (local run)")
    .action(async (flags: TargetFlags & { deadLetters?: boolean; event?: string }) => {
      const output = new Output(io, flags.json === true);
      if (Boolean(flags.deadLetters) === (flags.event !== undefined))
        throw new CliError("say what to replay: --dead-letters or --event <source>:<id>");
      if (flags.event !== undefined && !/^[^:]+:.+$/.test(flags.event))
        throw new CliError(`--event ${flags.event}: write it as <source>:<event id>`);
      const where = await target(flags);
      const report = await replay(
        where,
        flags.event === undefined ? "dead-letters" : { event: flags.event },
        {
          callLocal: (path) => callLocal(io, where, "POST", path),
          ...(options.sqs ? { sqs: options.sqs } : {}),
          ...(options.sleep ? { sleep: options.sleep } : {}),
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

  targeted(program.command("oauth"))
    .description(
      "give an OAuth portal its tokens: exchange an authorization code from the app's install, or store a refresh token",
    )
    .argument("<portal>", "the portal's id in the config")
    .option("--code <code>", "the authorization code Bitrix24 handed the app's install")
    .option("--refresh-token <token>", "a refresh token to store instead")
    .action(
      async (portal: string, flags: TargetFlags & { code?: string; refreshToken?: string }) => {
        const output = new Output(io, flags.json === true);
        const { config } = loadCliConfig(io.env, io.cwd, flags.config);
        const where = await target(flags);
        const report = await authorizePortal(
          where,
          config,
          portal,
          {
            ...(flags.code !== undefined && { code: flags.code }),
            ...(flags.refreshToken !== undefined && { refreshToken: flags.refreshToken }),
          },
          io.env,
          io.now(),
        );
        where.dynamo.destroy();
        output.document(report);
        printOAuth(report, output, where.label);
      },
    );

  return program;
}

interface TargetFlags extends CommonOptions {
  stack?: string;
  region?: string;
}

function positiveInteger(text: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value <= 0)
    throw new InvalidArgumentError("must be a positive integer");
  return value;
}

/**
 * Runs the CLI on `argv` (without node and script) and returns the exit code: 0, 1 for a
 * failure the user can fix (printed as one line), 2 for bad usage.
 *
 * @example process.exitCode = await runCli(process.argv.slice(2));
 */
export async function runCli(
  argv: readonly string[],
  io: Io = processIo(),
  options: ProgramOptions = {},
): Promise<number> {
  const json = argv.includes("--json");
  try {
    await buildProgram(io, options).parseAsync([...argv], { from: "user" });
    return 0;
  } catch (error) {
    if (error instanceof ExitCode) return error.code;
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    const output = new Output(io, json);
    if (error instanceof CliError || error instanceof ConfigError) {
      output.error(
        error instanceof ConfigError ? `configuration: ${error.message}` : error.message,
      );
      return 1;
    }
    if (error instanceof HooklineError && error.expose) {
      output.error(error.message);
      return 1;
    }
    throw error;
  }
}

function readPayload(io: Io, file: string): Record<string, unknown> {
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

/** The running `npm start` (it leaves its URL in .hookline/local.json), else the default port. */
function localUrl(io: Io): string {
  return readRunState(io.cwd)?.url ?? `http://127.0.0.1:${io.env.PORT ?? 3000}`;
}

function noExample(type: string, name: string): string {
  const names = exampleNames(type as Parameters<typeof exampleNames>[0]);
  if (names.length === 0) return `${type} sources have no example payloads; pass --payload FILE`;
  const suggestion = closest(name, names);
  if (suggestion) return `no example for ${name}; did you mean ${suggestion}?`;
  const prefix = name.split(".")[0] ?? name;
  const near = names.filter((candidate) => candidate.startsWith(prefix)).slice(0, 8);
  return `no example for ${name}; ${near.length > 0 ? `examples near it: ${near.join(", ")}` : `there are examples for ${names.slice(0, 8).join(", ")}, ...`}`;
}
