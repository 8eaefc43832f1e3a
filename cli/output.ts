import { shown } from "../functions/local/request-lines";
import { type Style, styleFor } from "../functions/local/terminal-style";

/** Where a command writes, and what it may reach: the real process, or a test's capture. */
export interface Io {
  stdout: { write(text: string): unknown; isTTY?: boolean };
  stderr: { write(text: string): unknown; isTTY?: boolean };
  env: Readonly<Record<string, string | undefined>>;
  cwd: string;
  fetch: typeof fetch;
  now: () => Date;
}

/**
 * A job or digest id on one line: it holds the sender's event id (up to 256 characters), so its
 * control characters are replaced, as in a table cell; it is never clipped, since it may be
 * copied into the next command.
 */
export const shownId = (id: string): string => shown(id, Number.POSITIVE_INFINITY);

export const processIo = (): Io => ({
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  cwd: process.cwd(),
  fetch: globalThis.fetch,
  now: () => new Date(),
});

/**
 * A command's output: for people (colours and aligned tables on a terminal, plain lines and
 * tab-separated rows elsewhere), or one JSON document with `--json`, for scripts.
 */
export class Output {
  readonly style: Style;
  readonly tty: boolean;

  constructor(
    private readonly io: Io,
    readonly json: boolean,
  ) {
    this.tty = io.stdout.isTTY === true;
    this.style = styleFor(io.stdout, io.env);
  }

  /** A line for people; nothing with `--json`. */
  line(text = ""): void {
    if (!this.json) this.io.stdout.write(`${text}\n`);
  }

  /** A warning for people on stderr; with `--json` it belongs in the document instead. */
  warn(text: string): void {
    if (!this.json) this.io.stderr.write(`${this.style.yellow("warning:")} ${text}\n`);
  }

  error(text: string): void {
    if (this.json) this.io.stdout.write(`${JSON.stringify({ error: text })}\n`);
    else this.io.stderr.write(`${this.style.red("error:")} ${text}\n`);
  }

  /** The `--json` document; nothing without `--json`. */
  document(value: unknown): void {
    if (this.json) this.io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  }

  /** Rows under a header: aligned on a terminal, tab-separated otherwise. Cells are made safe. */
  table(header: readonly string[], rows: readonly (readonly string[])[]): void {
    if (this.json) return;
    const safe = rows.map((row) => row.map((cell) => shown(cell, 120)));
    if (!this.tty) {
      for (const row of [header, ...safe]) this.line(row.join("\t"));
      return;
    }
    const widths = header.map((title, column) =>
      Math.max(title.length, ...safe.map((row) => (row[column] ?? "").length)),
    );
    const format = (row: readonly string[]) =>
      row
        .map((cell, column) => cell.padEnd(widths[column] ?? 0))
        .join("  ")
        .trimEnd();
    this.line(this.style.bold(format(header)));
    for (const row of safe) this.line(format(row));
  }
}
