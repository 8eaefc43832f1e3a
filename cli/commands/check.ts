import type { Command } from "commander";
import { type Config, testWeeks } from "../../functions/core/config";
import { unknownEventWarnings } from "../../functions/core/event-names";
import { compileRoutes } from "../../functions/core/routes";
import { unsignedEventNameWarnings } from "../../functions/core/sources/hmac";
import { alarmSubscriberWarnings } from "../alarm-subscribers";
import {
  type CliContext,
  type ConfigWarner,
  type ConfigWarning,
  configFor,
  outputFor,
  type TargetFlags,
  withTargetFlags,
} from "../context";
import type { Output } from "../output";
import { senderEventNames } from "../sender-event-names";

export interface CheckReport {
  ok: true;
  config: string;
  sources: { id: string; type: string; path: string }[];
  routes: {
    index: number;
    source: string;
    events: string[];
    condition?: string;
    whenLimited: string;
  }[];
  warnings: ConfigWarning[];
}

/**
 * `hookline check`: the config is loaded (validated and every template compiled) by the
 * caller exactly as start and synth load it; this lists what it defines and what looks wrong.
 */
export function checkConfig(
  config: Config,
  configPath: string,
  warners: readonly ConfigWarner[] = [],
): CheckReport {
  compileRoutes(config);
  return {
    ok: true,
    config: configPath,
    sources: config.sources.map((source) => ({
      id: source.id,
      type: source.type,
      path: `/webhooks/${source.id}`,
    })),
    routes: config.routes.map((route, index) => ({
      index,
      source: route.source,
      events: route.events,
      ...(route.condition === undefined ? {} : { condition: route.condition }),
      whenLimited: route.whenLimited,
    })),
    warnings: warners.flatMap((warner) => warner(config)),
  };
}

/** Route event names the source type never sends, with a "did you mean" (the same check as start). */
export const unknownEventNames: ConfigWarner = (config) =>
  unknownEventWarnings(config, senderEventNames()).map((line) => {
    const colon = line.indexOf(": ");
    return colon < 0
      ? { key: "routes", message: line }
      : { key: line.slice(0, colon), message: line.slice(colon + 2) };
  });

/** HMAC sources that name events from an unsigned header with no signed timestamp (docs/security.md). */
export const unsignedEventNames: ConfigWarner = (config) =>
  unsignedEventNameWarnings(config.sources);
/** A week other than Bitrix24's (the same check as start; synth refuses it). */
export const testWeekWarnings: ConfigWarner = (config) => testWeeks(config);

export function printCheck(report: CheckReport, output: Output): void {
  const { style } = output;
  output.line(`${style.green("✓")} ${report.config} is valid`);
  output.line();
  output.line(style.bold("Sources"));
  output.table(
    ["id", "type", "webhook path"],
    report.sources.map((source) => [source.id, source.type, `POST ${source.path}`]),
  );
  output.line();
  output.line(style.bold("Routes"));
  output.table(
    ["#", "source", "events", "condition", "when limited"],
    report.routes.map((route) => [
      String(route.index),
      route.source,
      route.events.join(", "),
      route.condition ?? "",
      route.whenLimited,
    ]),
  );
  for (const warning of report.warnings) output.warn(`${warning.key}: ${warning.message}`);
  if (report.warnings.length === 0) output.line(`\n${style.green("no warnings")}`);
}

export function registerCheck(program: Command, ctx: CliContext): void {
  withTargetFlags(program.command("check"))
    .description(
      "validate the config as start and synth do; list sources, routes and warnings (--stack: also whether the deployed alarms reach anyone)",
    )
    .action(async (flags: TargetFlags) => {
      const output = outputFor(ctx, flags);
      const { config, path } = configFor(ctx, flags);
      const report = checkConfig(
        config,
        path,
        ctx.options.warners ?? [unknownEventNames, unsignedEventNames, testWeekWarnings],
      );
      if (flags.stack) {
        report.warnings.push(
          ...(await alarmSubscriberWarnings(
            flags.stack,
            flags.region ?? ctx.io.env.AWS_REGION ?? ctx.io.env.AWS_DEFAULT_REGION,
            ctx.options.readOutputs,
            ctx.options.alarmSubscriptions,
          )),
        );
      }
      output.document(report);
      printCheck(report, output);
    });
}
