import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { App, Duration, Stack } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ESM_REQUIRE_BANNER } from "../../lib/bundling";
import { HooklineFunction } from "../../lib/hookline-function";
import { PROJECT_ROOT } from "../../lib/hookline-stack";
import { FIXTURE_CONFIG } from "./synth";

// Bundles a tiny stand-in handler with the real construct and the local esbuild, so the
// house bundling settings and the config copy are checked without the real handlers' weight.
let outdir: string;
let assetDir: string;

beforeAll(() => {
  outdir = mkdtempSync(join(tmpdir(), "hookline-cdk-"));
  const app = new App({ outdir, context: { "aws:cdk:enable-asset-metadata": true } });
  const stack = new Stack(app, "Bundled");
  new HooklineFunction(stack, "Probe", {
    entry: resolve(import.meta.dirname, "fixtures/handler.ts"),
    description: "bundling probe",
    timeout: Duration.seconds(3),
    memorySize: 128,
    configPath: FIXTURE_CONFIG,
    projectRoot: PROJECT_ROOT,
  });
  app.synth();
  const [fn] = Object.values(Template.fromStack(stack).findResources("AWS::Lambda::Function"));
  assetDir = join(outdir, String(fn?.Metadata?.["aws:asset:path"]));
}, 60_000);

afterAll(() => rmSync(outdir, { recursive: true, force: true }));

describe("HooklineFunction bundling", () => {
  it("emits minified ESM with a source map and a require shim for CommonJS dependencies", () => {
    const code = readFileSync(join(assetDir, "index.mjs"), "utf8");
    expect(code.startsWith(ESM_REQUIRE_BANNER)).toBe(true);
    expect(code).toMatch(/export\s*\{/);
    expect(existsSync(join(assetDir, "index.mjs.map"))).toBe(true);
  });

  it("ships no config file: the config checked at synth is in the code", () => {
    // function-code.test.ts reads it back from a bundle.
    expect(existsSync(join(assetDir, "hookline.config.json"))).toBe(false);
  });

  it("produces a module Node can load and call", async () => {
    const module = (await import(pathToFileURL(join(assetDir, "index.mjs")).href)) as {
      handler: () => Promise<unknown>;
    };
    await expect(module.handler()).resolves.toEqual({ statusCode: 200 });
  });
});
