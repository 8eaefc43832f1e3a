import { readFileSync } from "node:fs";
import { SourceMap } from "node:module";
import { fileURLToPath } from "node:url";

/**
 * Maps a stack trace of the bundled code back to the sources, for the log line of an unexpected
 * error. Node could do this for every stack (`--enable-source-maps`), but then it reads and
 * decodes every loaded file's map at start, on every cold start; here a map is read only when an
 * error is logged, and only for the files in its stack. Frames without a map stay as they are.
 *
 * @example log.error("request failed", { stack: sourceMappedStack(error.stack) });
 */
export function sourceMappedStack(stack: string | undefined): string | undefined {
  if (stack === undefined) return undefined;
  return stack.replace(FRAME, (frame: string, location: string, line: string, column: string) => {
    const original = originalPosition(location, Number(line), Number(column));
    return original ? frame.replace(`${location}:${line}:${column}`, original) : frame;
  });
}

/** `file:///var/task/index.mjs:1:2345` or `/var/task/chunks/x.mjs:1:23`, in a stack frame. */
const FRAME = /((?:file:\/\/)?\/[^\s():]+\.m?js):(\d+):(\d+)/g;
/** Maps of this process's files: each read once, `null` when there is none. */
const maps = new Map<string, SourceMap | null>();

function originalPosition(location: string, line: number, column: number): string | undefined {
  const file = location.startsWith("file://") ? fileURLToPath(location) : location;
  if (!maps.has(file)) maps.set(file, readMap(file));
  const entry = maps.get(file)?.findEntry(line - 1, column - 1);
  if (!entry || !("originalSource" in entry)) return undefined;
  const source = entry.originalSource.replace(/^(\.\.\/)+/, "");
  return `${source}:${entry.originalLine + 1}:${entry.originalColumn + 1}`;
}

function readMap(file: string): SourceMap | null {
  try {
    return new SourceMap(JSON.parse(readFileSync(`${file}.map`, "utf8")));
  } catch {
    return null;
  }
}
