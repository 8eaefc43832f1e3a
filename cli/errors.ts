/** A failure the user can fix, printed as one line (no stack) with exit code 1. */
export class CliError extends Error {}

/** Ends a command with this exit code after it printed its result. */
export class ExitCode extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}
