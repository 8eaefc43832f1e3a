import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  DeleteMessageCommand,
  ListMessageMoveTasksCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  StartMessageMoveTaskCommand,
} from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UNLISTED_SENT } from "../../cli/commands/events";
import type { SqsSender } from "../../cli/context";
import { runCli } from "../../cli/program";
import type { StackOutputsReader } from "../../cli/target";
import {
  OPEN_LINE_CODE,
  postWebhook,
  startTestBridge,
  TEST_SECRETS,
  testConfig,
} from "../support/bridge";
import { transcriptIo } from "../support/cli-io";
import { standardWebhookRequest } from "../support/signers";

const TABLE = "hookline-cli-stack";
const DLQ_ARN = "arn:aws:sqs:eu-west-1:123456789012:hookline-DeadLetterQueue";
const DLQ_URL = "https://sqs.eu-west-1.amazonaws.com/123456789012/hookline-DeadLetterQueue";
const QUEUE_URL = "https://sqs.eu-west-1.amazonaws.com/123456789012/hookline-DeliveryQueue";

/**
 * `--stack NAME` reads the stack's CloudFormation outputs (a small fake here) and then talks to
 * DynamoDB with the SDK's usual configuration, pointed at a local endpoint through the SDK's
 * own AWS_ENDPOINT_URL_DYNAMODB; SQS's move task is a small fake too.
 */
describe("hookline against a deployed stack (--stack)", () => {
  let bridge: Awaited<ReturnType<typeof startTestBridge>>;
  let cwd: string;
  const saved = { ...process.env };
  const stacksAsked: string[] = [];
  const readOutputs: StackOutputsReader = async (stackName) => {
    stacksAsked.push(stackName);
    if (stackName !== "hookline-prod") throw new Error(`Stack with id ${stackName} does not exist`);
    return {
      HealthUrl: `${bridge.url}/health`,
      TableName: TABLE,
      DeadLetterQueueArn: DLQ_ARN,
      DeadLetterQueueUrl: DLQ_URL,
      DeliveryQueueUrl: QUEUE_URL,
      WebhookUrlapp: "https://x/webhooks/app",
    };
  };

  beforeAll(async () => {
    bridge = await startTestBridge(testConfig(), { tableName: TABLE });
    Object.assign(process.env, {
      AWS_ENDPOINT_URL_DYNAMODB: bridge.dynamoEndpoint,
      AWS_ACCESS_KEY_ID: bridge.dynamoCredentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: bridge.dynamoCredentials.secretAccessKey,
    });
    cwd = mkdtempSync(join(tmpdir(), "hookline-cli-stack-"));
    writeFileSync(
      join(cwd, "hookline.config.json"),
      JSON.stringify({
        bitrix: { openLineCode: OPEN_LINE_CODE },
        sources: [{ id: "app", type: "standard-webhooks", secret: "env:APP_SECRET" }],
      }),
    );
    const order = { type: "order.paid", data: { orderId: "S-1", bitrixUserId: 51, note: "x" } };
    const request = standardWebhookRequest(TEST_SECRETS.APP_SECRET, order, "msg_stack");
    expect((await postWebhook(bridge, "app", request)).status).toBe(202);
    await bridge.queue.idle();
  });
  afterAll(async () => {
    process.env = saved;
    await bridge?.close();
  });

  async function cli(argv: string[], sqs?: SqsSender) {
    const run = transcriptIo({
      env: { AWS_REGION: "eu-west-1", APP_SECRET: TEST_SECRETS.APP_SECRET },
      cwd,
    });
    const code = await runCli(argv, run.io, {
      readOutputs,
      ...(sqs ? { sqs } : {}),
      sleep: async () => {},
    });
    return { code, text: run.text() };
  }

  it("events and slot read the stack's table, named by its outputs", async () => {
    const events = await cli(["events", "--stack", "hookline-prod", "--json"]);
    expect(events.code).toBe(0);
    expect(JSON.parse(events.text)).toMatchObject({
      target: "stack hookline-prod",
      events: [{ eventId: "msg_stack", messages: [{ outcome: "sent", userId: 51 }] }],
    });
    // A stack's index lists no sent message (docs/cost.md): its listing says where they are.
    const text = await cli(["events", "--stack", "hookline-prod"]);
    expect(text.text).toContain(UNLISTED_SENT);
    const one = await cli([
      "events",
      "--stack",
      "hookline-prod",
      "--event",
      "app:msg_stack",
      "--json",
    ]);
    expect(JSON.parse(one.text)).toMatchObject({
      events: [{ eventId: "msg_stack", messages: [{ jobId: "app:msg_stack:2", outcome: "sent" }] }],
    });
    // The config's only portal (id `default`), as the deployed stack's slots name it.
    const slot = await cli(["slot", "51", "--stack", "hookline-prod", "--json"]);
    expect(JSON.parse(slot.text)).toMatchObject({ state: "sent", holderJob: "app:msg_stack:2" });
    expect(stacksAsked.every((name) => name === "hookline-prod")).toBe(true);
  });

  it("send posts a signed sample to the stack's API, found through its HealthUrl output", async () => {
    const { code, text } = await cli([
      "send",
      "app",
      "--event",
      "order.paid",
      "--stack",
      "hookline-prod",
      "--json",
    ]);
    expect(code).toBe(0);
    expect(JSON.parse(text)).toMatchObject({ url: `${bridge.url}/webhooks/app`, status: 202 });
  });

  it("replay --dead-letters starts an SQS move task from the dead-letter queue and shows its progress", async () => {
    const sent: unknown[] = [];
    const answers = [
      {
        Results: [
          {
            Status: "RUNNING",
            ApproximateNumberOfMessagesMoved: 1,
            ApproximateNumberOfMessagesToMove: 3,
          },
        ],
      },
      {
        Results: [
          {
            Status: "COMPLETED",
            ApproximateNumberOfMessagesMoved: 3,
            ApproximateNumberOfMessagesToMove: 3,
          },
        ],
      },
    ];
    const sqs: SqsSender = {
      async send(command) {
        sent.push(command.input);
        if (command instanceof StartMessageMoveTaskCommand) return { TaskHandle: "task-1" };
        if (command instanceof ListMessageMoveTasksCommand) return answers.shift();
        throw new Error("unexpected command");
      },
    };
    const { code, text } = await cli(["replay", "--dead-letters", "--stack", "hookline-prod"], sqs);
    expect(code).toBe(0);
    expect(sent[0]).toEqual({ SourceArn: DLQ_ARN });
    expect(text).toContain("moved 1 of 3");
    expect(text).toContain(
      "replayed 3 dead letters from stack hookline-prod (move task COMPLETED)",
    );
  });

  it("replay --event moves only that event's dead letters back to the delivery queue", async () => {
    const job = (jobId: string) => JSON.stringify({ v: 3, kind: "event", jobId });
    // The dead letters: two of app:e-1 (two routes), one of another event.
    const deadLetters = [
      { MessageId: "m1", ReceiptHandle: "r1", Body: job("app:e-1:0") },
      { MessageId: "m2", ReceiptHandle: "r2", Body: job("app:e-10:0") },
      { MessageId: "m3", ReceiptHandle: "r3", Body: job("app:e-1:1") },
    ];
    const sentTo: [string | undefined, string | undefined][] = [];
    const deleted: (string | undefined)[] = [];
    let receives = 0;
    const sqs: SqsSender = {
      async send(command) {
        if (command instanceof ReceiveMessageCommand) {
          receives++;
          return { Messages: receives === 1 ? deadLetters.slice(0, 2) : deadLetters.slice(2) };
        }
        if (command instanceof SendMessageCommand) {
          sentTo.push([command.input.QueueUrl, command.input.MessageBody]);
          return {};
        }
        if (command instanceof DeleteMessageCommand) {
          expect(sentTo).toHaveLength(deleted.length + 1); // sent back before it is deleted
          deleted.push(command.input.ReceiptHandle);
          return {};
        }
        throw new Error("unexpected command");
      },
    };
    const { code, text } = await cli(
      ["replay", "--event", "app:e-1", "--stack", "hookline-prod", "--json"],
      sqs,
    );
    expect(code).toBe(0);
    expect(JSON.parse(text)).toMatchObject({ moved: 2, scope: { event: "app:e-1" } });
    expect(sentTo).toEqual([
      [QUEUE_URL, job("app:e-1:0")],
      [QUEUE_URL, job("app:e-1:1")],
    ]);
    expect(deleted).toEqual(["r1", "r3"]);
  });

  it("refuses what only the local run can do, and names a missing stack", async () => {
    expect((await cli(["slot", "51", "--reset", "--stack", "hookline-prod"])).text).toContain(
      "--reset works on the local run only",
    );
    const missing = await cli(["digests", "--stack", "nope"]);
    expect(missing.code).toBe(1);
    expect(missing.text).toContain("Stack with id nope does not exist");
  });
});
