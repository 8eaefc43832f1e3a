import type { Context } from "aws-lambda";
import {
  isDashboardOnly,
  METRICS_NAMESPACE,
  METRICS_SERVICE,
  type Metrics,
  TOTALLED_DIMENSIONS,
} from "../core/metrics";

/** One data point, as the core counts it. */
interface Point {
  name: string;
  unit: "Count" | "Milliseconds";
  value: number;
  dimensions: Record<string, string>;
}

/** One EMF log line being built: its directives and root members. */
interface EmfLine {
  directives: Array<{ dimensions: string[][]; metrics: Array<{ Name: string; Unit: string }> }>;
  root: Record<string, string | number[]>;
}

/**
 * The dimension sets a point is written under: with `Portal` or `Source`, also without them (the
 * total, which the alarms read).
 */
const dimensionSets = (keys: string[]): string[][] => {
  const total = keys.filter((key) => !TOTALLED_DIMENSIONS.includes(key));
  return total.length < keys.length ? [keys, total] : [keys];
};

/**
 * `true` on a function of a stack with the dashboard: it also writes the series only the
 * dashboard reads (`isDashboardOnly` in functions/core/metrics.ts); without it they are left out.
 */
export const DASHBOARD_SERIES_VARIABLE = "HOOKLINE_DASHBOARD_SERIES";

/** EMF allows at most 100 values per metric in one line. */
const MAX_VALUES = 100;

/**
 * Custom metrics in CloudWatch embedded metric format (EMF), buffered for one invocation and
 * written by `flush()` as few lines as the points allow: every point whose dimension values do
 * not clash with a line's joins it (a metric seen again adds a value to its array). A deliver
 * batch's outcomes and latencies, otherwise a line each, become one or two lines: each line is
 * billed as log ingestion (docs/alarms.md, "What the alarms and metrics cost"). Every metric
 * carries the `service` dimension, as Powertools' did. Disabled by
 * `POWERTOOLS_METRICS_DISABLED=true`.
 *
 * Lambda gives these lines (no `level` key) the level INFO: the function's application log
 * level must keep INFO (lib/hookline-function.ts, test/integration/log-filter.test.ts).
 * `written` decides which points are written at all (a stack without the dashboard leaves out
 * the series only the dashboard reads: `DASHBOARD_SERIES_VARIABLE`).
 *
 * @example
 * const metrics = makeEmfMetrics();
 * export const handler = withMetricsFlush(createIngestHandler({ metrics, ... }), metrics);
 */
export function makeEmfMetrics(
  write: (line: string) => void = (line) => process.stdout.write(line),
  now: () => number = Date.now,
  written: (point: Point) => boolean = () => true,
): Metrics & { flush(): void } {
  const disabled = process.env.POWERTOOLS_METRICS_DISABLED === "true";
  let points: Point[] = [];
  const add = (point: Point) => {
    if (!disabled && written(point)) points.push(point);
  };
  return {
    count: (name, dimensions = {}, value = 1) => add({ name, unit: "Count", value, dimensions }),
    milliseconds: (name, value, dimensions = {}) =>
      add({ name, unit: "Milliseconds", value, dimensions }),
    flush() {
      if (points.length === 0) return;
      const timestamp = now();
      for (const line of emfLines(points)) {
        write(
          `${JSON.stringify({
            _aws: {
              Timestamp: timestamp,
              CloudWatchMetrics: line.directives.map((directive) => ({
                Namespace: METRICS_NAMESPACE,
                Dimensions: directive.dimensions,
                Metrics: directive.metrics,
              })),
            },
            ...Object.fromEntries(
              Object.entries(line.root).map(([key, value]) => [
                key,
                Array.isArray(value) && value.length === 1 ? value[0] : value,
              ]),
            ),
          })}\n`,
        );
      }
      points = [];
    },
  };
}

/**
 * Which points a Lambda writes: all of them on a stack with the dashboard
 * (`DASHBOARD_SERIES_VARIABLE`), else all but the series only the dashboard reads.
 */
export function pointsWritten(
  env: Record<string, string | undefined> = process.env,
): (point: Point) => boolean {
  if (env[DASHBOARD_SERIES_VARIABLE] === "true") return () => true;
  return (point) => !isDashboardOnly(point.name, point.dimensions);
}

/** Groups points into EMF lines: a point joins the first line its dimension values agree with. */
export function emfLines(points: readonly Point[]): EmfLine[] {
  const lines: EmfLine[] = [];
  for (const point of points) {
    const dimensions = { service: METRICS_SERVICE, ...point.dimensions };
    const keys = Object.keys(dimensions).sort();
    const sets = JSON.stringify(dimensionSets(keys));
    const fits = (line: EmfLine) => {
      const values = line.root[point.name];
      if (values !== undefined) {
        // The same metric again: only with the same dimensions, unit and room for a value.
        const directive = line.directives.find((d) => d.metrics.some((m) => m.Name === point.name));
        return (
          Array.isArray(values) &&
          values.length < MAX_VALUES &&
          directive !== undefined &&
          JSON.stringify(directive.dimensions) === sets &&
          directive.metrics.some((m) => m.Unit === point.unit) &&
          keys.every((key) => line.root[key] === dimensions[key as keyof typeof dimensions])
        );
      }
      return keys.every((key) => {
        const present = line.root[key];
        return present === undefined || present === dimensions[key as keyof typeof dimensions];
      });
    };
    let line = lines.find(fits);
    if (!line) {
      line = { directives: [], root: {} };
      lines.push(line);
    }
    for (const key of keys) line.root[key] = dimensions[key as keyof typeof dimensions] as string;
    const values = line.root[point.name];
    if (Array.isArray(values)) {
      values.push(point.value);
      continue;
    }
    line.root[point.name] = [point.value];
    let directive = line.directives.find((d) => JSON.stringify(d.dimensions) === sets);
    if (!directive) {
      directive = { dimensions: dimensionSets(keys), metrics: [] };
      line.directives.push(directive);
    }
    directive.metrics.push({ Name: point.name, Unit: point.unit });
  }
  return lines;
}

type Handler<E, R> = (event: E, context: Context) => Promise<R>;

/**
 * Writes the metrics an invocation counted when it ends, whether it answered or threw.
 *
 * @example export const handler = withMetricsFlush(createSweepHandler(options), metrics);
 */
export function withMetricsFlush<E, R>(
  handler: Handler<E, R>,
  metrics: { flush(): void },
): Handler<E, R> {
  return async (event, context) => {
    try {
      return await handler(event, context);
    } finally {
      metrics.flush();
    }
  };
}
