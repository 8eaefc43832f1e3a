import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { App, type CfnElement, Duration, Stack } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfigFile } from "../../functions/core/config";
import { HooklineFunction } from "../../lib/hookline-function";
import { PROJECT_ROOT } from "../../lib/hookline-stack";
import { FIXTURE_CONFIG } from "./synth";

// Two functions in one stack, bundled for real: each must get its own code asset.
let outdir: string;
const assets: Record<string, string> = {};

beforeAll(() => {
  outdir = mkdtempSync(join(tmpdir(), "hookline-code-"));
  const app = new App({ outdir, context: { "aws:cdk:enable-asset-metadata": true } });
  const stack = new Stack(app, "TwoFunctions");
  const functions = (
    [
      ["First", "fixtures/handler.ts"],
      ["Second", "fixtures/second-handler.ts"],
    ] as const
  ).map(
    ([id, entry]) =>
      [
        id,
        new HooklineFunction(stack, id, {
          entry: resolve(import.meta.dirname, entry),
          description: id,
          timeout: Duration.seconds(3),
          memorySize: 128,
          configPath: FIXTURE_CONFIG,
          projectRoot: PROJECT_ROOT,
        }),
      ] as const,
  );
  const resources = Template.fromStack(stack).findResources("AWS::Lambda::Function");
  for (const [id, fn] of functions) {
    const logicalId = stack.getLogicalId(fn.fn.node.defaultChild as CfnElement);
    assets[id] = join(outdir, String(resources[logicalId]?.Metadata?.["aws:asset:path"]));
  }
}, 60_000);

afterAll(() => rmSync(outdir, { recursive: true, force: true }));

describe("HooklineFunction code", () => {
  it("is bundled per function: two entries, two assets, each with its own handler", async () => {
    expect(assets.First).not.toBe(assets.Second);
    const answers = await Promise.all(
      [assets.First, assets.Second].map(async (dir) => {
        const module = (await import(pathToFileURL(join(String(dir), "index.mjs")).href)) as {
          handler: () => Promise<{ statusCode: number; config?: unknown }>;
        };
        return module.handler();
      }),
    );
    expect(answers.map((answer) => answer.statusCode)).toEqual([200, 201]);
    // The config checked at synth, carried in the code as a plain object.
    expect(answers[1]?.config).toEqual(loadConfigFile(FIXTURE_CONFIG));
  });

  it("is an index.mjs with its source map, and no config file beside it", () => {
    const files = readdirSync(String(assets.First));
    expect(files).toEqual(expect.arrayContaining(["index.mjs", "index.mjs.map"]));
    expect(files).not.toContain("hookline.config.json");
  });
});
