import type { Io } from "../../cli/output";

/**
 * The CLI's `Io` for a test: stdout and stderr go to one transcript (`text()`); the real `fetch`
 * and clock unless `over` says otherwise.
 *
 * @example const run = transcriptIo({ cwd, env: {} }); await runCli(["events"], run.io); run.text();
 */
export function transcriptIo(over: Pick<Io, "cwd" | "env"> & Partial<Io>): {
  io: Io;
  text: () => string;
} {
  const out: string[] = [];
  const io: Io = {
    stdout: { write: (text: string) => out.push(text) },
    stderr: { write: (text: string) => out.push(text) },
    fetch,
    now: () => new Date(),
    ...over,
  };
  return { io, text: () => out.join("") };
}
