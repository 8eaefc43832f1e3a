import { CliError } from "./errors";
import { cloudFormationOutputs, type StackOutputsReader } from "./target";
import type { ConfigWarning } from "./warnings";

/** Confirmed subscriptions of an SNS topic; tests pass a fake. */
export type SubscriptionCounter = (topicArn: string, region?: string) => Promise<number>;

/** `SubscriptionsConfirmed` of the topic (SNS GetTopicAttributes), with the usual credentials. */
export const snsConfirmedSubscriptions: SubscriptionCounter = async (topicArn, region) => {
  const { GetTopicAttributesCommand, SNSClient } = await import("@aws-sdk/client-sns");
  const client = new SNSClient(region ? { region } : {});
  try {
    const { Attributes } = await client.send(new GetTopicAttributesCommand({ TopicArn: topicArn }));
    return Number(Attributes?.SubscriptionsConfirmed ?? 0);
  } finally {
    client.destroy();
  }
};

/**
 * `hookline check --stack NAME`: a deployed stack whose alarm topic nobody confirmed a
 * subscription to pages nobody (docs/alarms.md). The topic comes from the `AlarmTopicArn` output;
 * its region from the ARN.
 */
export async function alarmSubscriberWarnings(
  stackName: string,
  region: string | undefined,
  readOutputs: StackOutputsReader = cloudFormationOutputs,
  countSubscriptions: SubscriptionCounter = snsConfirmedSubscriptions,
): Promise<ConfigWarning[]> {
  let topicArn: string | undefined;
  try {
    topicArn = (await readOutputs(stackName, region)).AlarmTopicArn;
  } catch (error) {
    throw new CliError(`cannot read stack ${stackName}: ${(error as Error).message}`);
  }
  if (!topicArn) {
    throw new CliError(`stack ${stackName} has no AlarmTopicArn output: is it a hookline stack?`);
  }
  const confirmed = await countSubscriptions(topicArn, region ?? topicArn.split(":")[3]);
  if (confirmed > 0) return [];
  return [
    {
      key: `stack ${stackName}: AlarmTopicArn`,
      message:
        "the alarm topic has no confirmed subscription, so alarms reach nobody: deploy with -c alarmEmail=... and accept the e-mail, or subscribe a chat channel (docs/alarms.md)",
    },
  ];
}
