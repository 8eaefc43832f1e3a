import { type Command, Option } from "commander";
import { exampleNames, examplePayload } from "../../devkit/examples";
import { buildSample } from "../../devkit/samples";
import type { SampleEvent } from "../../devkit/signing";
import {
  type EmptyVariable,
  emptyVariables,
  routeTemplates,
} from "../../devkit/template-variables";
import type { Config, SourceConfig } from "../../functions/core/config";
import { closest } from "../../functions/core/event-names";
import { compileRoutes, patternToRegExp } from "../../functions/core/routes";
import type { TemplateContext } from "../../functions/core/template";
import { printable } from "../../functions/local/request-lines";
import { sourceById } from "../config";
import {
  type CliContext,
  type CommonFlags,
  configFor,
  outputFor,
  readPayload,
  withCommonFlags,
} from "../context";
import { CliError, ExitCode } from "../errors";
import type { Output } from "../output";

/** One route of the source, and what it made of the event. */
export interface RenderedRoute {
  index: number;
  events: string[];
  /** `rendered`, `failed` (with reason), `condition-false`, or `not-listening` (no pattern matches). */
  result: "rendered" | "failed" | "condition-false" | "not-listening";
  userId?: number;
  message?: string;
  attach?: unknown;
  keyboard?: unknown;
  /** The system notification a route that notifies sends when the week is taken (docs/notify.md). */
  notify?: { message: string; tag: string };
  reason?: string;
  /** Variables the route's templates read that are missing or empty in this event. */
  empty: EmptyVariable[];
}

export interface RenderReport {
  source: string;
  event: { name: string; id: string };
  matched: number;
  routes: RenderedRoute[];
}

/**
 * `hookline render`: routing and rendering exactly as ingest does them (the same compiled
 * routes), with nothing sent or stored; plus the template variables that rendered empty.
 */
export function renderEvent(
  config: Config,
  source: SourceConfig,
  event: SampleEvent,
  now: Date,
): RenderReport {
  const results = compileRoutes(config).route({
    sourceId: source.id,
    eventId: event.id,
    eventName: event.name,
    receivedAt: now,
    payload: event.payload,
  });
  const context: TemplateContext = {
    payload: event.payload,
    event: { source: source.id, name: event.name, id: event.id, receivedAt: now.toISOString() },
  };
  const routes: RenderedRoute[] = [];
  config.routes.forEach((route, index) => {
    if (route.source !== source.id) return;
    const base = { index, events: route.events };
    if (!route.events.some((pattern) => patternToRegExp(pattern).test(event.name))) {
      routes.push({ ...base, result: "not-listening", empty: [] });
      return;
    }
    const result = results.find((candidate) => candidate.routeIndex === index);
    const empty = emptyVariables(routeTemplates(route, index), context);
    if (!result) routes.push({ ...base, result: "condition-false", empty });
    else if (!result.ok) routes.push({ ...base, result: "failed", reason: result.reason, empty });
    else
      routes.push({
        ...base,
        result: "rendered",
        userId: result.message.userId,
        message: result.message.message,
        ...(result.message.attach === undefined ? {} : { attach: result.message.attach }),
        ...(result.message.keyboard === undefined ? {} : { keyboard: result.message.keyboard }),
        ...(result.notify && {
          notify: { message: result.notify.message, tag: result.notify.tag },
        }),
        empty,
      });
  });
  return {
    source: source.id,
    event: { name: event.name, id: event.id },
    matched: results.length,
    routes,
  };
}

export function printRender(report: RenderReport, output: Output): void {
  const { style } = output;
  output.line(
    `${style.bold(report.source)} ${report.event.name}: ${report.matched} of ${report.routes.length} route(s) of this source matched`,
  );
  for (const route of report.routes) {
    const head = `routes[${route.index}] (${route.events.join(", ")})`;
    output.line();
    switch (route.result) {
      case "not-listening":
        output.line(`${style.dim(head)}  does not listen to ${report.event.name}`);
        continue;
      case "condition-false":
        output.line(`${head}  ${style.cyan("condition is false")}: no message`);
        break;
      case "failed":
        output.line(`${head}  ${style.red("failed")}: ${route.reason}`);
        break;
      case "rendered":
        output.line(`${head}  ${style.green("rendered")} for user ${route.userId}`);
        output.line(indent(printable(route.message ?? "")));
        if (route.attach !== undefined)
          output.line(`  ATTACH ${indent(JSON.stringify(route.attach, null, 2)).trimStart()}`);
        if (route.keyboard !== undefined)
          output.line(`  KEYBOARD ${indent(JSON.stringify(route.keyboard, null, 2)).trimStart()}`);
        if (route.notify !== undefined) {
          output.line(
            `  when the week is taken, notification (TAG ${printable(route.notify.tag)}):`,
          );
          output.line(indent(indent(printable(route.notify.message))));
        }
        break;
    }
    for (const empty of route.empty)
      output.warn(`${empty.key}: ${empty.variable} rendered empty (missing in this payload)`);
  }
}

const indent = (text: string): string => `  ${text.replaceAll("\n", "\n  ")}`;

export function registerRender(program: Command, ctx: CliContext): void {
  withCommonFlags(program.command("render"))
    .description(
      "route and render an event with no send: the messages, ATTACH, KEYBOARD, and empty variables",
    )
    .argument("<sourceId>", "a source id from the config")
    .requiredOption("--event <name>", "the event name as routes see it, e.g. issues.opened")
    .addOption(new Option("--payload <file>", "a JSON payload file").conflicts("example"))
    .option(
      "--example [name]",
      "the sender's example payload (GitHub's documented examples, hookline's Stripe fixtures); default: --event",
    )
    .addHelpText(
      "after",
      "\nWithout --payload or --example: the example for --event when there is one, else a placeholder payload.",
    )
    .action(
      (
        sourceId: string,
        flags: CommonFlags & { event: string; payload?: string; example?: string | true },
      ) => {
        const output = outputFor(ctx, flags);
        const { config } = configFor(ctx, flags);
        const source = sourceById(config, sourceId);
        let payload = flags.payload === undefined ? undefined : readPayload(ctx.io, flags.payload);
        if (flags.example !== undefined) {
          const name = flags.example === true ? flags.event : flags.example;
          payload = examplePayload(source.type, name);
          if (!payload) throw new CliError(noExample(source.type, name));
        }
        const event = {
          ...buildSample(config, source, {
            eventName: flags.event,
            ...(payload ? { payload } : {}),
          }),
          ...(flags.example === undefined ? {} : { origin: "example" as const }),
        };
        const report = renderEvent(config, source, event, ctx.io.now());
        output.document({ ...report, payload: event.origin });
        printRender(report, output);
        if (report.routes.some((route) => route.result === "failed")) throw new ExitCode(1);
      },
    );
}

/** Why there is no example, with the name a typo meant or the names near it. */
function noExample(type: SourceConfig["type"], name: string): string {
  const names = exampleNames(type);
  if (names.length === 0) return `${type} sources have no example payloads; pass --payload FILE`;
  const suggestion = closest(name, names);
  if (suggestion) return `no example for ${name}; did you mean ${suggestion}?`;
  const prefix = name.split(".")[0] ?? name;
  const near = names.filter((candidate) => candidate.startsWith(prefix)).slice(0, 8);
  return `no example for ${name}; ${near.length > 0 ? `examples near it: ${near.join(", ")}` : `there are examples for ${names.slice(0, 8).join(", ")}, ...`}`;
}
