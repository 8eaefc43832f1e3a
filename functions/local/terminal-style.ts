/** ANSI styles for a terminal, or plain text when the stream is not one (pipes, files, CI). */
export interface Style {
  bold(text: string): string;
  dim(text: string): string;
  red(text: string): string;
  green(text: string): string;
  yellow(text: string): string;
  cyan(text: string): string;
}

const codes: Record<keyof Style, [number, number]> = {
  bold: [1, 22],
  dim: [2, 22],
  red: [31, 39],
  green: [32, 39],
  yellow: [33, 39],
  cyan: [36, 39],
};

/**
 * Colours only on a TTY, unless NO_COLOR is set (https://no-color.org) or FORCE_COLOR asks.
 *
 * @example styleFor(process.stdout).green("sent")
 */
export function styleFor(
  stream: { isTTY?: boolean },
  env: Readonly<Record<string, string | undefined>> = process.env,
): Style {
  const enabled =
    env.NO_COLOR === undefined &&
    (env.FORCE_COLOR !== undefined ? env.FORCE_COLOR !== "0" : stream.isTTY === true);
  const style = {} as Style;
  for (const [name, [open, close]] of Object.entries(codes) as [keyof Style, [number, number]][]) {
    style[name] = enabled ? (text) => `\u001b[${open}m${text}\u001b[${close}m` : (text) => text;
  }
  return style;
}

export const plainStyle: Style = styleFor({ isTTY: false }, {});
