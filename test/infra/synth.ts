import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { App, type CfnElement } from "aws-cdk-lib";
import type { IConstruct } from "constructs";
import { HooklineStack, type HooklineStackProps, PROJECT_ROOT } from "../../lib/hookline-stack";

export const FIXTURE_CONFIG = resolve(import.meta.dirname, "fixtures/hookline.config.json");

/** cdk.json's context (the feature flags), so tests see the template `cdk synth` makes. */
export const CDK_CONTEXT = (
  JSON.parse(readFileSync(resolve(PROJECT_ROOT, "cdk.json"), "utf8")) as {
    context: Record<string, unknown>;
  }
).context;

/** An app as `cdk synth` makes it, with bundling skipped (no esbuild run) to keep tests fast. */
export const testApp = (context: Record<string, unknown> = {}): App =>
  new App({ context: { ...CDK_CONTEXT, "aws:cdk:bundling-stacks": [], ...context } });

/** The stack over the fixture config. */
export function buildStack(props: Partial<HooklineStackProps> = {}): HooklineStack {
  return new HooklineStack(testApp(), "Hookline", { configPath: FIXTURE_CONFIG, ...props });
}

/** Template references to a construct's CloudFormation resource: `ref(x)`, `arn(x)`, `id(x)`. */
export function references(stack: HooklineStack) {
  const id = (construct: IConstruct): string =>
    stack.getLogicalId(construct.node.defaultChild as CfnElement);
  return {
    id,
    ref: (construct: IConstruct) => ({ Ref: id(construct) }),
    arn: (construct: IConstruct) => ({ "Fn::GetAtt": [id(construct), "Arn"] }),
  };
}

/** Writes a config object to a temp file, for a stack over a variant of the fixture. */
export function writeConfig(raw: object): string {
  const path = join(mkdtempSync(join(tmpdir(), "hookline-config-")), "hookline.config.json");
  writeFileSync(path, JSON.stringify(raw));
  return path;
}
