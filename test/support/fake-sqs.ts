import { createHash, randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { SQSEvent, SQSRecord } from "aws-lambda";

/**
 * An SQS endpoint on 127.0.0.1 that knows the two operations hookline calls, in the AWS JSON 1.0
 * protocol of SDK v3 (`X-Amz-Target: AmazonSQS.<Operation>`): SendMessageBatch (stored, answered
 * with the body MD5 the SDK verifies, String message attributes kept) and ChangeMessageVisibility
 * (recorded). Anything else is a
 * 400 `UnsupportedOperation`; text SQS refuses (a U+FFFF, a lone surrogate) is a 400
 * `InvalidMessageContents`, as SQS answers it. For tests that run the real Lambda handlers without AWS.
 */

export interface FakeSqsMessage {
  queueUrl: string;
  messageId: string;
  receiptHandle: string;
  body: string;
  md5OfBody: string;
  sentAt: number;
  /** String message attributes as sent (e.g. the trace context's `traceparent`). */
  attributes?: Record<string, string>;
}

export interface VisibilityChange {
  queueUrl: string;
  receiptHandle: string;
  visibilityTimeout: number;
}

export interface FakeSqs {
  /** e.g. `http://127.0.0.1:PORT`: the endpoint (AWS_ENDPOINT_URL_SQS) and the queue URLs' origin. */
  endpoint: string;
  /** A queue URL on this server, e.g. `${endpoint}/000000000000/hookline`. */
  queueUrl(name: string): string;
  /** Every message sent, in order. */
  messages: FakeSqsMessage[];
  /** Every ChangeMessageVisibility call, in order. */
  visibilityChanges: VisibilityChange[];
  /** The operations called, in order (e.g. `SendMessageBatch`). */
  calls: string[];
  /**
   * The next `count` requests (default 1) get no answer: the connection stays open, silent,
   * until `close`. With `apply`, the operation runs first (the messages are stored), as when
   * SQS took the batch and its answer was lost.
   */
  hang(options?: { count?: number; apply?: boolean }): void;
  close(): Promise<void>;
}

const JSON_1_0 = "application/x-amz-json-1.0";
const TARGET_PREFIX = "AmazonSQS.";

interface BatchEntry {
  Id?: unknown;
  MessageBody?: unknown;
  MessageAttributes?: unknown;
}

/** The String values of a send's `MessageAttributes`; undefined without any. */
function stringAttributes(input: unknown): Record<string, string> | undefined {
  if (typeof input !== "object" || input === null) return undefined;
  const values = Object.entries(input as Record<string, { StringValue?: unknown }>).flatMap(
    ([name, value]) => (typeof value?.StringValue === "string" ? [[name, value.StringValue]] : []),
  );
  return values.length > 0 ? Object.fromEntries(values) : undefined;
}

class SqsFault extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly queryCode: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The characters SQS accepts in a message body and a String attribute, as its documentation lists
 * them (#x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF); anything else
 * is refused with `InvalidMessageContents`.
 */
const SQS_TEXT = /^[\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]*$/u;

function requireAllowed(text: string): string {
  if (SQS_TEXT.test(text)) return text;
  throw new SqsFault(
    400,
    "InvalidMessageContents",
    "InvalidMessageContents",
    "Invalid characters found in the message (the allowed set is #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF)",
  );
}

/** Starts the fake SQS on an ephemeral port of 127.0.0.1. */
export async function startFakeSqs(): Promise<FakeSqs> {
  const messages: FakeSqsMessage[] = [];
  const visibilityChanges: VisibilityChange[] = [];
  const calls: string[] = [];

  const operations: Record<string, (input: Record<string, unknown>) => unknown> = {
    SendMessageBatch(input) {
      const queueUrl = requireString(input.QueueUrl, "QueueUrl");
      const entries = input.Entries;
      if (!Array.isArray(entries) || entries.length === 0 || entries.length > 10) {
        throw new SqsFault(
          400,
          "EmptyBatchRequest",
          "AWS.SimpleQueueService.EmptyBatchRequest",
          "Entries must hold 1 to 10 entries",
        );
      }
      const successful = (entries as BatchEntry[]).map((entry) => {
        const id = requireString(entry.Id, "Entries.Id");
        const body = requireAllowed(requireString(entry.MessageBody, "Entries.MessageBody"));
        const attributes = stringAttributes(entry.MessageAttributes);
        for (const value of Object.values(attributes ?? {})) requireAllowed(value);
        const message: FakeSqsMessage = {
          queueUrl,
          messageId: randomUUID(),
          receiptHandle: `receipt-${randomUUID()}`,
          body,
          md5OfBody: md5(body),
          sentAt: Date.now(),
          ...(attributes && { attributes }),
        };
        messages.push(message);
        return { Id: id, MessageId: message.messageId, MD5OfMessageBody: message.md5OfBody };
      });
      return { Successful: successful, Failed: [] };
    },
    SendMessage(input) {
      const body = requireAllowed(requireString(input.MessageBody, "MessageBody"));
      const attributes = stringAttributes(input.MessageAttributes);
      for (const value of Object.values(attributes ?? {})) requireAllowed(value);
      const message: FakeSqsMessage = {
        queueUrl: requireString(input.QueueUrl, "QueueUrl"),
        messageId: randomUUID(),
        receiptHandle: `receipt-${randomUUID()}`,
        body,
        md5OfBody: md5(body),
        sentAt: Date.now(),
        ...(attributes && { attributes }),
      };
      messages.push(message);
      return { MessageId: message.messageId, MD5OfMessageBody: message.md5OfBody };
    },
    ChangeMessageVisibility(input) {
      const visibilityTimeout = input.VisibilityTimeout;
      if (typeof visibilityTimeout !== "number") {
        throw invalidParameter("VisibilityTimeout must be a number");
      }
      visibilityChanges.push({
        queueUrl: requireString(input.QueueUrl, "QueueUrl"),
        receiptHandle: requireString(input.ReceiptHandle, "ReceiptHandle"),
        visibilityTimeout,
      });
      return {};
    },
  };

  const hangs: { apply: boolean }[] = [];
  const held = new Set<ServerResponse>();

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const target = String(request.headers["x-amz-target"] ?? "");
    const text = await readBody(request);
    const hang = hangs.shift();
    if (hang) {
      if (hang.apply) answer(request, response, target, text, () => {});
      held.add(response);
      response.once("close", () => held.delete(response));
      return;
    }
    answer(request, response, target, text, send);
  }

  function answer(
    request: IncomingMessage,
    response: ServerResponse,
    target: string,
    text: string,
    reply: typeof send,
  ): void {
    try {
      if (request.method !== "POST" || !target.startsWith(TARGET_PREFIX)) {
        throw new SqsFault(
          400,
          "UnknownOperationException",
          "AWS.SimpleQueueService.UnsupportedOperation",
          `not an AWS JSON 1.0 SQS request: ${request.method} ${target}`,
        );
      }
      const name = target.slice(TARGET_PREFIX.length);
      calls.push(name);
      const operation = operations[name];
      if (!operation) {
        throw new SqsFault(
          400,
          "UnsupportedOperation",
          "AWS.SimpleQueueService.UnsupportedOperation",
          `the fake SQS does not implement ${name}`,
        );
      }
      let input: unknown;
      try {
        input = JSON.parse(text || "{}");
      } catch {
        throw invalidParameter("the body is not JSON");
      }
      if (typeof input !== "object" || input === null) throw invalidParameter("not an object");
      reply(response, 200, operation(input as Record<string, unknown>));
    } catch (error) {
      const fault =
        error instanceof SqsFault
          ? error
          : new SqsFault(500, "InternalError", "InternalError", String(error));
      reply(
        response,
        fault.status,
        { __type: `com.amazonaws.sqs#${fault.code}`, message: fault.message },
        { "x-amzn-query-error": `${fault.queryCode};Sender` },
      );
    }
  }

  const server = createServer((request, response) => {
    handle(request, response).catch(() => {
      if (!response.headersSent) response.writeHead(500);
      response.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    endpoint,
    queueUrl: (name) => `${endpoint}/000000000000/${name}`,
    messages,
    visibilityChanges,
    calls,
    hang: ({ count = 1, apply = false } = {}) => {
      for (let i = 0; i < count; i++) hangs.push({ apply });
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        for (const response of held) response.destroy();
        server.close((error) => (error ? reject(error) : resolve()));
        // Keep-alive sockets from SDK clients would otherwise hold the close open.
        server.closeAllConnections();
      }),
  };
}

/** The SQS event Lambda's event source mapping would build from received messages. */
export function toSqsEvent(
  messages: readonly FakeSqsMessage[],
  options: { receiveCount?: number; region?: string } = {},
): SQSEvent {
  const region = options.region ?? "us-east-1";
  return {
    Records: messages.map(
      (message): SQSRecord => ({
        messageId: message.messageId,
        receiptHandle: message.receiptHandle,
        body: message.body,
        attributes: {
          ApproximateReceiveCount: String(options.receiveCount ?? 1),
          SentTimestamp: String(message.sentAt),
          SenderId: "AIDAFAKESENDER",
          ApproximateFirstReceiveTimestamp: String(Date.now()),
        },
        messageAttributes: Object.fromEntries(
          Object.entries(message.attributes ?? {}).map(([name, stringValue]) => [
            name,
            { dataType: "String", stringValue, stringListValues: [], binaryListValues: [] },
          ]),
        ),
        md5OfBody: message.md5OfBody,
        eventSource: "aws:sqs",
        eventSourceARN: `arn:aws:sqs:${region}:000000000000:${queueName(message.queueUrl)}`,
        awsRegion: region,
      }),
    ),
  };
}

function queueName(queueUrl: string): string {
  return new URL(queueUrl).pathname.split("/").filter(Boolean).pop() ?? "queue";
}

function md5(text: string): string {
  return createHash("md5").update(text, "utf8").digest("hex");
}

function requireString(value: unknown, name: string): string {
  if (typeof value !== "string" || value === "") throw invalidParameter(`${name} is required`);
  return value;
}

function invalidParameter(message: string): SqsFault {
  return new SqsFault(
    400,
    "InvalidParameterValue",
    "AWS.SimpleQueueService.InvalidParameterValue",
    message,
  );
}

function send(
  response: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    "content-type": JSON_1_0,
    "content-length": Buffer.byteLength(text),
    "x-amzn-requestid": randomUUID(),
    ...headers,
  });
  response.end(text);
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}
