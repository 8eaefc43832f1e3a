export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const upper = sorted[mid] ?? Number.NaN;
  const lower = sorted[mid - 1] ?? upper;
  return sorted.length % 2 === 0 ? (lower + upper) / 2 : upper;
}

/** One line of the report: hookline's figure against its reference, and the budget. */
export interface Row {
  measure: string;
  hookline: string;
  reference: string;
  /** hookline / reference (for throughput: achieved / configured). */
  ratio: number;
  /** e.g. "<= 3.00x" or ">= 0.95x". */
  budget: string;
  within: boolean;
}

export const ratioText = (ratio: number): string =>
  Number.isFinite(ratio) ? `${ratio.toFixed(2)}x` : "n/a";

export function formatTable(rows: readonly Row[]): string {
  const header = ["measure", "hookline", "reference", "ratio", "budget", "within budget"];
  const cells = rows.map((row) => [
    row.measure,
    row.hookline,
    row.reference,
    ratioText(row.ratio),
    row.budget,
    row.within ? "yes" : "NO",
  ]);
  const widths = header.map((title, column) =>
    Math.max(title.length, ...cells.map((line) => (line[column] ?? "").length)),
  );
  const line = (values: readonly string[]) =>
    `| ${values.map((value, column) => value.padEnd(widths[column] ?? 0)).join(" | ")} |`;
  return [
    line(header),
    `|${widths.map((width) => "-".repeat(width + 2)).join("|")}|`,
    ...cells.map(line),
  ].join("\n");
}

export const micros = (ns: number): string => `${(ns / 1000).toFixed(1)} µs`;
export const millis = (ms: number): string => `${ms.toFixed(1)} ms`;
export const kib = (bytes: number): string => `${(bytes / 1024).toFixed(1)} KiB`;
