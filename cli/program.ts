import { Command, CommanderError } from "commander";
import { ConfigError, HooklineError } from "../functions/core/errors";
import { registerCheck } from "./commands/check";
import { registerDigests } from "./commands/digests";
import { registerDoctor } from "./commands/doctor";
import { registerEvents } from "./commands/events";
import { registerOAuth } from "./commands/oauth";
import { registerRender } from "./commands/render";
import { registerReplay } from "./commands/replay";
import { registerSend } from "./commands/send";
import { registerSlot } from "./commands/slot";
import type { CliContext, ProgramOptions } from "./context";
import { CliError, ExitCode } from "./errors";
import { type Io, Output, processIo } from "./output";

export type { ProgramOptions } from "./context";

/**
 * The `hookline` command line. Each command lives in `cli/commands/<name>.ts`: a small function
 * over the same core code the server runs (config loading, routing, rendering, signing, the
 * stores), its printing, and its flags. `--json` on every command prints one JSON document.
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
  const ctx: CliContext = { io, options };
  for (const register of [
    registerCheck,
    registerRender,
    registerSend,
    registerEvents,
    registerDigests,
    registerSlot,
    registerReplay,
    registerOAuth,
    registerDoctor,
  ])
    register(program, ctx);
  return program;
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
