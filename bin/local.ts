#!/usr/bin/env node
/**
 * `npm start`: the whole bridge on one machine, on embedded defaults (see README "Quickstart").
 * Flags: --port N (or PORT), --config PATH (or HOOKLINE_CONFIG), --json-logs (Powertools JSON
 * logs, as on Lambda, instead of one readable line per request), --dev (development secrets for
 * unset variables with any config; the shipped example config always gets them), --trace
 * (OpenTelemetry spans of every event, printed, or exported over OTLP when
 * OTEL_EXPORTER_OTLP_ENDPOINT is set: docs/tracing.md).
 */
import { createHmac, randomUUID } from "node:crypto";
import { parseArgs } from "node:util";
import { senderEventNames } from "../cli/sender-event-names";
import { localSecretEnvironment, usesDevelopmentSecrets } from "../devkit/dev-secrets";
import { removeRunState, runStatePath, writeRunState } from "../devkit/run-state";
import { readEnvironment } from "../functions/adapters/environment";
import { makeLambdaLog } from "../functions/adapters/lambda-log";
import { type Config, loadConfigFile, testWeeks } from "../functions/core/config";
import { ConfigError } from "../functions/core/errors";
import { unknownEventWarnings } from "../functions/core/event-names";
import { METRICS_SERVICE } from "../functions/core/metrics";
import { startLocalBridge } from "../functions/local/bridge";
import { makeConsoleLog } from "../functions/local/console-log";
import { ListenError } from "../functions/local/http-server";
import { makeInbox } from "../functions/local/inbox/index";
import { makeLocalAdmin } from "../functions/local/local-admin";
import { makeTerminalOutput } from "../functions/local/terminal-output";
import { styleFor } from "../functions/local/terminal-style";

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: "string" },
      config: { type: "string" },
      "json-logs": { type: "boolean" },
      dev: { type: "boolean" },
      trace: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(
      "usage: npm start -- [--port 3000] [--config hookline.config.json] [--json-logs] [--dev] [--trace]",
    );
    return;
  }
  const env: Record<string, string | undefined> = { ...process.env };
  if (values.config) env.HOOKLINE_CONFIG = values.config;
  const environment = readEnvironment(env);
  const port = Number(values.port ?? env.PORT ?? 3000);
  if (!Number.isInteger(port) || port < 0 || port > 65_535)
    throw new ConfigError(`PORT: "${port}" is not a port number`);

  const config = loadConfigFile(
    environment.configPath,
    values.config ? "--config" : "HOOKLINE_CONFIG",
  );
  for (const warning of unknownEventWarnings(config, senderEventNames()))
    console.warn(`hookline: warning: ${warning}`);
  for (const { key, message } of testWeeks(config))
    console.warn(`hookline: warning: ${key}: ${message}`);
  const secrets = localSecretEnvironment(
    config,
    env,
    usesDevelopmentSecrets(environment.configPath, values.dev),
  );
  if (secrets.missing.length > 0) {
    throw new ConfigError(
      values.dev
        ? `${secrets.missing.join(", ")} not set: hookline has no development value for it: set it in the environment`
        : `${secrets.missing.join(", ")} not set: the config's env: references need a value (or run with --dev for development values where hookline has one)`,
    );
  }
  Object.assign(env, secrets.env);
  if (secrets.defaulted.length > 0) {
    console.warn(
      "hookline: unset secrets use their public development values (local run only); sign test requests with:",
    );
    for (const name of secrets.defaulted) console.warn(`  ${name}=${secrets.env[name]}`);
  }

  // The SDK warns that releases from 2027 on need Node 22; the Lambdas run 22, and locally
  // the line would hide the request lines. Its own switch, read when a client is created.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  const style = styleFor(process.stdout);
  const log = values["json-logs"] ? makeLambdaLog() : makeConsoleLog(undefined, style);
  // The OpenTelemetry SDK is loaded only with --trace.
  const tracing = values.trace
    ? await (await import("../functions/local/local-tracing")).localTracing(env, METRICS_SERVICE)
    : undefined;
  if (values.trace && !tracing) throw new ConfigError("--trace: OTEL_TRACES_EXPORTER is none");
  const bridge = await startLocalBridge({
    config,
    port,
    env,
    tableName: environment.HOOKLINE_TABLE,
    log,
    ...(tracing && { tracing: tracing.tracing }),
    // The inbox page, local only: the Lambdas never serve it.
    pages: (running) => [
      makeInbox({ config, env, tableName: environment.HOOKLINE_TABLE, bridge: running }),
      makeLocalAdmin({ config, bridge: running }),
    ],
    simulator: {
      onMessage: (message) =>
        console.log(
          `\n[Bitrix24 simulator] open line ${message.code} -> user ${message.userId}:\n  ${message.message.replaceAll("\n", "\n  ")}\n`,
        ),
    },
  });

  if (!values["json-logs"]) {
    // A line per request and per outcome; during a burst, a summary line a second.
    bridge.requestLog.subscribe(
      makeTerminalOutput({ write: (line) => process.stdout.write(`${line}\n`), style }),
    );
  }

  console.log(`hookline is listening on ${bridge.url}`);
  console.log(`  inbox:     ${bridge.url}/_inbox  (requests, outcomes, digests, messages)`);
  console.log(`  config:    ${environment.configPath}`);
  console.log(
    `  DynamoDB:  ${env.AWS_ENDPOINT_URL_DYNAMODB ?? `embedded (dynalite) at ${bridge.dynamoEndpoint}`}, table ${environment.HOOKLINE_TABLE}`,
  );
  console.log(
    `  Bitrix24:  ${config.portals
      .map((portal) => {
        const simulator = bridge.simulators.get(portal.id);
        return `${portal.id}: ${simulator ? `built-in simulator at ${simulator.origin}` : "the configured portal"}`;
      })
      .join("; ")}`,
  );
  if (tracing) console.log(`  tracing:   ${tracing.where}`);
  for (const source of config.sources)
    console.log(`  webhook:   POST ${bridge.url}/webhooks/${source.id}  (${source.type})`);
  // The hookline CLI reads this to find the local run (its URL and DynamoDB endpoint).
  writeRunState(process.cwd(), {
    pid: process.pid,
    url: bridge.url,
    token: bridge.token,
    dynamoEndpoint: bridge.dynamoEndpoint,
    dynamoCredentials: bridge.dynamoCredentials,
    tableName: environment.HOOKLINE_TABLE,
    config: environment.configPath,
    startedAt: new Date().toISOString(),
  });
  process.once("exit", () => removeRunState(process.cwd()));
  console.log(
    `  CLI:       npx hookline send ${config.sources[0]?.id ?? "<source>"}  (finds this run through ${runStatePath(".")})`,
  );
  const example = firstWebhookExample(config, env, bridge.url, secrets.defaulted);
  if (example)
    console.log(
      `\nSend a first signed test webhook (run it twice to see "duplicate"):\n\n${example}\n`,
    );

  // SIGTERM (kill, a process manager) stops as cleanly as Ctrl-C; a second signal, or a close
  // that hangs, ends the process anyway.
  let stopping = false;
  const stop = async () => {
    if (stopping) process.exit(1);
    stopping = true;
    console.log("\nhookline: stopping");
    setTimeout(() => process.exit(1), STOP_TIMEOUT_MS).unref();
    await bridge.close();
    await tracing?.tracing.shutdown();
    process.exit(0);
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  process.on("SIGHUP", stop);
}

/**
 * A ready-to-paste curl for the first GitHub source, signed with its secret, only when that
 * secret is the public development value: a real secret's signature is never printed (anyone
 * who sees the terminal could replay it; `npx hookline send` signs without showing it).
 */
function firstWebhookExample(
  config: Config,
  env: Record<string, string | undefined>,
  url: string,
  defaulted: readonly string[],
): string | undefined {
  const github = config.sources.find((source) => source.type === "github");
  const secretRef = github?.secret[0];
  const name = secretRef?.startsWith("env:") ? secretRef.slice(4) : undefined;
  const secret = name !== undefined && defaulted.includes(name) ? env[name] : undefined;
  if (!github || !secret) return undefined;
  const body = JSON.stringify({
    action: "opened",
    issue: {
      title: "Hello from hookline",
      user: { id: 21031067 },
      html_url: "https://github.com/octo-org/hello/issues/1",
    },
    repository: { full_name: "octo-org/hello" },
  });
  const signature = createHmac("sha256", secret).update(body).digest("hex");
  return [
    `curl -i ${url}/webhooks/${github.id} \\`,
    "  -H 'content-type: application/json' -H 'x-github-event: issues' \\",
    `  -H 'x-github-delivery: ${randomUUID()}' \\`,
    `  -H 'x-hub-signature-256: sha256=${signature}' \\`,
    `  --data '${body}'`,
  ].join("\n");
}

const STOP_TIMEOUT_MS = 5_000;

main().catch((error: unknown) => {
  if (error instanceof ConfigError) {
    console.error(`hookline: configuration error: ${error.message}`);
  } else if (error instanceof ListenError) {
    console.error(`hookline: ${error.message}`);
  } else {
    console.error("hookline: could not start:", error);
  }
  process.exit(1);
});
