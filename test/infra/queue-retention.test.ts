import { Template } from "aws-cdk-lib/assertions";
import { describe, expect, it } from "vitest";
import { deliveryTimings } from "../../functions/core/delivery-timings";
import { buildStack, references } from "./synth";

/**
 * The delivery queue against SQS's own rules (docs/ledger.md, "Every path is bounded").
 *
 * AWS docs, SQS API Reference, SetQueueAttributes / CreateQueue:
 * - `MessageRetentionPeriod`: "An integer from 60 seconds (1 minute) to 1,209,600 seconds
 *   (14 days). Default: 345,600 (4 days)." A message older than that is deleted, whatever its
 *   receive count: no dead letter, no outcome.
 * - `RedrivePolicy.maxReceiveCount`: "The number of times a message is delivered to the source
 *   queue before being moved to the dead-letter queue. Default: 10. When the ReceiveCount for a
 *   message exceeds the maxReceiveCount for a queue, Amazon SQS moves the message to the
 *   dead-letter-queue." (valid values 1 to 1,000)
 * - A message on which the consumer fails comes back after the `VisibilityTimeout`, so it is
 *   received at most retention / visibility times before the retention deletes it.
 * https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SetQueueAttributes.html
 * https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-dead-letter-queues.html
 */
describe("the delivery queue keeps every message until it has an outcome", () => {
  const stack = buildStack({});
  const timings = deliveryTimings(stack.config);
  const resources = Template.fromStack(stack).toJSON().Resources as Record<
    string,
    { Properties?: Record<string, unknown> }
  >;
  const queue = resources[references(stack).id(stack.queue)]?.Properties ?? {};

  it("keeps messages 14 days, the longest SQS allows", () => {
    expect(queue.MessageRetentionPeriod).toBe(1_209_600);
    expect(timings.queueRetentionSeconds).toBe(1_209_600);
  });

  it("keeps a message through the whole retry window and a last visibility timeout", () => {
    expect(timings.queueRetentionSeconds).toBeGreaterThanOrEqual(
      stack.config.delivery.retryFor + timings.visibilityTimeoutSeconds,
    );
  });

  it("lets a message that fails every time reach the receive limit (and the dead letters) before the retention deletes it", () => {
    const receivesBeforeDeletion = Math.floor(
      Number(queue.MessageRetentionPeriod) / Number(queue.VisibilityTimeout),
    );
    const policy = queue.RedrivePolicy as { maxReceiveCount: number };
    expect(policy.maxReceiveCount).toBeGreaterThanOrEqual(1);
    expect(policy.maxReceiveCount).toBeLessThanOrEqual(1000);
    expect(policy.maxReceiveCount).toBeLessThanOrEqual(receivesBeforeDeletion);
  });
});
