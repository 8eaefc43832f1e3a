import { HooklineError } from "../functions/core/errors";

/** A failure the user can fix, printed as one line (no stack) with exit code 1. */
export class CliError extends HooklineError {
  override readonly code = "cli_error";
}

/** Ends a command with this exit code after it printed its result. */
export class ExitCode extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}
