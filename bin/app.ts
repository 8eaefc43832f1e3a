import { App, Validations } from "aws-cdk-lib";
import { AwsSolutionsChecks } from "cdk-nag";
import { ConfigError } from "../functions/core/errors";
import { stackPropsFromContext } from "../lib/app-props";
import { HooklineStack } from "../lib/hookline-stack";

const app = new App();

try {
  // Environment-agnostic: synth needs no credentials and makes no lookups.
  const stackName = String(app.node.tryGetContext("stackName") ?? "Hookline");
  new HooklineStack(app, stackName, stackPropsFromContext(app));
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  // A broken config or context value fails synth with the bad key named, not the first webhook.
  process.stderr.write(`hookline: ${error.message}\n`);
  process.exit(1);
}

Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
