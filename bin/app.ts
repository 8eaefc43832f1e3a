import { App, Validations } from "aws-cdk-lib";
import { AwsSolutionsChecks } from "cdk-nag";
import { ConfigError } from "../functions/core/errors";
import { HooklineStack } from "../lib/hookline-stack";

const app = new App();
const configPath = app.node.tryGetContext("config") ?? "hookline.config.json";
const alarmEmail: string | undefined = app.node.tryGetContext("alarmEmail");

try {
  // Environment-agnostic: synth needs no credentials and makes no lookups.
  new HooklineStack(app, app.node.tryGetContext("stackName") ?? "Hookline", {
    configPath,
    alarmEmail,
    description: "hookline: signed webhooks to Bitrix24 open-line messages",
  });
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  // A broken config fails synth with the bad key named, not the first webhook.
  process.stderr.write(`hookline: ${error.message}\n`);
  process.exit(1);
}

Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
