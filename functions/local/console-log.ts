import type { Log } from "../core/log";
import { shown } from "./request-lines";
import { plainStyle, type Style } from "./terminal-style";

/**
 * The local run's log when JSON is not asked for (`npm start -- --json-logs`): warnings and
 * errors as one readable line each; info and debug are left out, since the request lines
 * already say what happened.
 */
export function makeConsoleLog(
  write: (line: string) => void = (line) => console.error(line),
  style: Style = plainStyle,
): Log {
  const line = (level: string, message: string, attributes?: Record<string, unknown>) => {
    const details = Object.entries(attributes ?? {})
      .filter(([key, value]) => value !== undefined && key !== "stack")
      .map(
        ([key, value]) =>
          `${key}=${shown(typeof value === "string" ? value : JSON.stringify(value), 300)}`,
      );
    write([`hookline ${level}:`, message, ...details].join(" "));
    const stack = attributes?.stack;
    if (typeof stack === "string") write(style.dim(stack));
  };
  return {
    debug() {},
    info() {},
    warn: (message, attributes) => line(style.yellow("warn"), message, attributes),
    error: (message, attributes) => line(style.red("error"), message, attributes),
  };
}
