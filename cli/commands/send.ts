import type { Command } from "commander";
import { signingSecret } from "../../devkit/dev-secrets";
import { buildSample } from "../../devkit/samples";
import { type SendReport, sendEvent } from "../../devkit/send-event";
import type { Config, SourceConfig } from "../../functions/core/config";
import { HooklineError } from "../../functions/core/errors";
import { printable } from "../../functions/local/request-lines";
import { sourceById } from "../config";
import {
  type CliContext,
  configFor,
  outputFor,
  readPayload,
  type TargetFlags,
  targetFor,
  withCommonFlags,
} from "../context";
import { CliError, ExitCode } from "../errors";
import type { Io, Output } from "../output";
import { verifiedLocalRun } from "../target";

export function printSend(report: SendReport, output: Output): void {
  const { style } = output;
  const ok = report.status >= 200 && report.status < 300;
  const colour = ok ? style.green : style.red;
  output.line(
    `${style.bold(report.source)} ${report.event.name} ${style.dim(`id ${report.event.id}`)} (${report.payload} payload) -> POST ${report.url}`,
  );
  output.line(
    `${colour(String(report.status))} ${printable(typeof report.answer === "string" ? report.answer : JSON.stringify(report.answer))}`,
  );
}

export function registerSend(program: Command, ctx: CliContext): void {
  withCommonFlags(program.command("send"))
    .description(
      "sign a sample event with the source's secret and post it to the local run or a URL",
    )
    .argument("<sourceId>", "a source id from the config")
    .option("--event <name>", "the event name (default: the first one a route of the source names)")
    .option(
      "--payload <file>",
      "a JSON payload file (default: the sender's example, else a placeholder)",
    )
    .option("--id <id>", "the event id (default: a fresh one, so each send is a new event)")
    .option(
      "--url <base>",
      "the bridge's base URL (default: the running npm start, else http://127.0.0.1:3000)",
    )
    .option("--stack <name>", "post to a deployed stack's API (its HealthUrl output)")
    .option("--region <region>", "the stack's region (default: AWS_REGION)")
    .action(
      async (
        sourceId: string,
        flags: TargetFlags & { event?: string; payload?: string; id?: string; url?: string },
      ) => {
        const output = outputFor(ctx, flags);
        const { config } = configFor(ctx, flags);
        const source = sourceById(config, sourceId);
        const event = buildSample(config, source, {
          ...(flags.event === undefined ? {} : { eventName: flags.event }),
          ...(flags.payload === undefined ? {} : { payload: readPayload(ctx.io, flags.payload) }),
          ...(flags.id === undefined ? {} : { id: flags.id }),
        });
        const baseUrl =
          flags.url ?? (flags.stack ? await stackApiUrl(ctx, flags) : await localUrl(ctx.io));
        const secret = await readSigningSecret(config, source, ctx.io.env);
        let report: SendReport;
        try {
          report = await sendEvent({
            config,
            source,
            secret,
            event,
            baseUrl,
            fetch: ctx.io.fetch,
            now: ctx.io.now(),
          });
        } catch (error) {
          if (error instanceof HooklineError) throw error;
          throw new CliError(
            `could not reach ${baseUrl} (${(error as Error).message}); is npm start running? Or pass --url`,
          );
        }
        output.document(report);
        printSend(report, output);
        if (report.status >= 300) throw new ExitCode(1);
      },
    );
}

/** The source's signing secret; one that cannot be read here is named, before anything is sent. */
async function readSigningSecret(
  config: Config,
  source: SourceConfig,
  env: Io["env"],
): Promise<string> {
  try {
    return await signingSecret(config, source, env);
  } catch (error) {
    if (error instanceof HooklineError) throw error;
    throw new CliError(
      `cannot sign for ${source.id}: ${source.secret[0]} cannot be read here (${(error as Error).message}); sign in to AWS, or give the source an env: secret for local tests`,
    );
  }
}

/**
 * The running `npm start` (it leaves its URL in .hookline/local.json, followed only once
 * verified), else the default port.
 */
async function localUrl(io: Io): Promise<string> {
  return (await verifiedLocalRun(io))?.url ?? `http://127.0.0.1:${io.env.PORT ?? 3000}`;
}

/** A deployed stack's API, from its HealthUrl output. */
async function stackApiUrl(ctx: CliContext, flags: TargetFlags): Promise<string> {
  const where = await targetFor(ctx, flags);
  where.dynamo.destroy();
  if (!where.apiUrl) throw new CliError(`${where.label} has no HealthUrl output to find its API`);
  return where.apiUrl;
}
