import { resolve } from "node:path";
import { App, type CfnElement } from "aws-cdk-lib";
import type { IConstruct } from "constructs";
import { HooklineStack, type HooklineStackProps } from "../../lib/hookline-stack";

export const FIXTURE_CONFIG = resolve(import.meta.dirname, "fixtures/hookline.config.json");

/** The stack over the fixture config, with bundling skipped (no esbuild run) to keep tests fast. */
export function buildStack(props: Partial<HooklineStackProps> = {}): HooklineStack {
  const app = new App({ context: { "aws:cdk:bundling-stacks": [] } });
  return new HooklineStack(app, "Hookline", { configPath: FIXTURE_CONFIG, ...props });
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
