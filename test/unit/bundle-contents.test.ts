import { join } from "node:path";
import { build, type Metafile } from "esbuild";
import { describe, expect, it } from "vitest";
import { hooklineEsbuildOptions } from "../../lib/bundling";

const ROOT = join(import.meta.dirname, "../..");

/** A function built as the stack builds it, in memory, with its metafile, unminified. */
const buildInMemory = (handler: string) =>
  build({
    ...hooklineEsbuildOptions,
    entryPoints: { index: join(ROOT, handler) },
    outdir: join(ROOT, "cdk.out", "bundle-contents-test"),
    write: false,
    metafile: true,
    minify: false,
    sourcemap: false,
    logLevel: "silent",
  });

/**
 * The source files a function loads before its first event: those of `index.mjs` and of every
 * chunk it imports statically. Chunks behind an `import()` load only when that code runs.
 */
async function loadedAtStart(handler: string): Promise<string[]> {
  const result = await buildInMemory(handler);
  const outputs: Metafile["outputs"] = result.metafile.outputs;
  // Every `import()` target is an entry point of its own: find the handler's.
  const entry = Object.keys(outputs).find((file) => outputs[file]?.entryPoint === handler);
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const imported of outputs[file]?.imports ?? []) {
      if (imported.kind === "import-statement" && !imported.external) visit(imported.path);
    }
  };
  if (entry) visit(entry);
  // A module whose exports were all shaken out is listed with 0 bytes: it is not loaded.
  return [...seen].flatMap((file) =>
    Object.entries(outputs[file]?.inputs ?? {}).flatMap(([input, { bytesInOutput }]) =>
      bytesInOutput > 0 ? [input] : [],
    ),
  );
}

/** The secret readers: loaded when a secret is first read, not at start. */
const SECRETS_CLIENTS = ["@aws-sdk/client-secrets-manager", "@aws-lambda-powertools/parameters"];
/** zod: no function loads it at start. */
const ZOD = "node_modules/zod/";

describe("what a function loads before its first event", () => {
  it.each([
    [
      "ingest: no Bitrix24 client, no Secrets Manager client, no zod",
      "functions/ingest/handler.ts",
      "functions/core/ingest.ts",
      [
        "functions/adapters/bitrix-client.ts",
        "functions/adapters/bitrix-oauth.ts",
        "functions/core/deliver/",
        ...SECRETS_CLIENTS,
        ZOD,
      ],
    ],
    [
      "deliver: no Secrets Manager client until a secret is read, no SQS client until a retry, no zod",
      "functions/deliver/handler.ts",
      "functions/core/deliver/",
      [...SECRETS_CLIENTS, "@aws-sdk/client-sqs", ZOD],
    ],
    ["sweep: no zod", "functions/sweep/handler.ts", "functions/core/sweep.ts", [ZOD]],
  ])("%s", async (_name, handler, itsOwn, unwanted) => {
    const inputs = await loadedAtStart(handler);
    expect(inputs.some((input) => input.includes(itsOwn))).toBe(true);
    for (const name of unwanted) {
      expect(inputs.filter((input) => input.includes(name))).toEqual([]);
    }
  });

  // Ingest enqueues every webhook: its bare `import "@aws-sdk/client-sqs"` must survive the
  // bundling (the package says it has no side effects, which lets a bundler drop a bare import),
  // or the first webhook waits for the client to load.
  it("ingest: the SQS client", async () => {
    const inputs = await loadedAtStart("functions/ingest/handler.ts");
    const sqsClient = (input: string) =>
      input.includes("@aws-sdk/client-sqs/") && input.endsWith("/SQSClient.js");
    expect(inputs.some(sqsClient)).toBe(true);
  });
});

/**
 * Every file a function's build writes (its start, its chunks behind `import()`), as code.
 */
async function allCode(handler: string): Promise<string> {
  const result = await buildInMemory(handler);
  return result.outputFiles
    .filter((file) => file.path.endsWith(".mjs"))
    .map((file) => file.text)
    .join("\n");
}

describe("how a function speaks HTTP", () => {
  // Node loads `fetch`'s undici on its first call: about 20 ms of a deliver cold start on top of
  // the AWS SDK's node:https (bench/README.md, P2). Bitrix24 and the OAuth server are reached over
  // node:http(s) (functions/adapters/http-exchange.ts).
  it.each(["ingest", "deliver", "sweep"])("%s never calls the global fetch", async (name) => {
    const code = await allCode(`functions/${name}/handler.ts`);
    expect(code).toContain("node:http");
    expect(code.match(/(?<![\w$.])fetch\s*\(|globalThis\.fetch\b/g) ?? []).toEqual([]);
  });
});

describe("what only the local run needs", () => {
  // A function's tracing chunk (loaded with HOOKLINE_TRACING=true) keeps every export of the
  // module it comes from: the local run's `--trace` set-up lives outside it (functions/local).
  it.each(["ingest", "deliver", "sweep"])("%s carries no local tracing set-up", async (name) => {
    const code = await allCode(`functions/${name}/handler.ts`);
    // Booleans: a failure would otherwise print the whole bundle.
    expect(code.includes("OTEL_TRACES_EXPORTER")).toBe(true);
    expect(code.includes("spans printed here as they end")).toBe(false);
  });
});
