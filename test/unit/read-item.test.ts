import {
  BatchGetItemCommand,
  type DynamoDBClient,
  type GetItemCommand,
  ProvisionedThroughputExceededException,
} from "@aws-sdk/client-dynamodb";
import { describe, expect, it } from "vitest";
import { keys, readItem } from "../../functions/adapters/dynamo/table";

/**
 * What readItem does with answers dynalite and DynamoDB Local never give on a tiny table: keys a
 * BatchGetItem left unprocessed (DynamoDB's answer under throttling), and a failed batch. The
 * reading itself is tested against both servers (test/integration/stores.test.ts).
 */

const TABLE = "hookline-unit";
const item = (jobId: string) => ({ ...keys.outcome(jobId), outcome: { S: "sent" } });

/** A client that answers from a script, and keeps what it was asked. */
function scripted(answer: (command: BatchGetItemCommand | GetItemCommand) => unknown) {
  const sent: (BatchGetItemCommand | GetItemCommand)[] = [];
  const client = {
    send: async (command: BatchGetItemCommand | GetItemCommand) => {
      sent.push(command);
      return answer(command);
    },
  } as unknown as DynamoDBClient;
  return { client, sent };
}

describe("readItem", () => {
  it("reads the keys a batch left unprocessed on their own, and each reader gets its item", async () => {
    const { client, sent } = scripted((command) => {
      if (command instanceof BatchGetItemCommand) {
        return {
          Responses: { [TABLE]: [item("a")] },
          UnprocessedKeys: { [TABLE]: { Keys: [keys.outcome("b")], ConsistentRead: true } },
        };
      }
      return { Item: item("b") };
    });
    const [a, b] = await Promise.all([
      readItem(client, TABLE, keys.outcome("a")),
      readItem(client, TABLE, keys.outcome("b")),
    ]);
    expect(a).toEqual(item("a"));
    expect(b).toEqual(item("b"));
    expect(sent.map((command) => command.constructor.name)).toEqual([
      "BatchGetItemCommand",
      "GetItemCommand",
    ]);
    expect(sent[0]?.input).toEqual({
      RequestItems: {
        [TABLE]: { Keys: [keys.outcome("a"), keys.outcome("b")], ConsistentRead: true },
      },
    });
    expect(sent[1]?.input).toEqual({
      TableName: TABLE,
      Key: keys.outcome("b"),
      ConsistentRead: true,
    });
  });

  it("fails every reader of a batch that failed, and reads the next turn's keys afresh", async () => {
    const refusal = new ProvisionedThroughputExceededException({
      message: "slow down",
      $metadata: {},
    });
    let refuse = true;
    const { client, sent } = scripted(() => {
      if (refuse) throw refusal;
      return { Responses: { [TABLE]: [item("a"), item("b")] } };
    });
    const reads = [
      readItem(client, TABLE, keys.outcome("a")),
      readItem(client, TABLE, keys.outcome("b")),
    ];
    for (const read of reads) await expect(read).rejects.toBe(refusal);
    refuse = false;
    const again = await Promise.all([
      readItem(client, TABLE, keys.outcome("a")),
      readItem(client, TABLE, keys.outcome("b")),
    ]);
    expect(again).toEqual([item("a"), item("b")]);
    expect(sent).toHaveLength(2);
  });
});
