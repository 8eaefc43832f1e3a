import {
  CreateTableCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  type DynamoDBClient,
  ResourceInUseException,
  ResourceNotFoundException,
  UpdateTableCommand,
  UpdateTimeToLiveCommand,
} from "@aws-sdk/client-dynamodb";
import { TABLE_INDEXES, TABLE_PARTITION_KEY, TABLE_TTL_ATTRIBUTE } from "../adapters/dynamo/table";
import { sleep } from "../core/clock";

/**
 * Creates the table if it is missing (on-demand billing), waits until it is ACTIVE and turns TTL
 * on. Safe to run from several processes at once. Used by `npm start`, the tests and the benches; the
 * CDK stack owns the table in AWS (a local tool: no Lambda bundle holds it).
 *
 * @example await ensureTable(new DynamoDBClient({}), "hookline");
 */
export async function ensureTable(client: DynamoDBClient, tableName: string): Promise<void> {
  if (!(await tableExists(client, tableName))) {
    try {
      await client.send(
        new CreateTableCommand({
          TableName: tableName,
          BillingMode: "PAY_PER_REQUEST",
          AttributeDefinitions: [
            { AttributeName: TABLE_PARTITION_KEY, AttributeType: "S" },
            ...indexAttributes(Object.values(TABLE_INDEXES)),
          ],
          KeySchema: [{ AttributeName: TABLE_PARTITION_KEY, KeyType: "HASH" }],
          GlobalSecondaryIndexes: Object.values(TABLE_INDEXES).map(indexSpec),
        }),
      );
    } catch (error) {
      // Another process created it first.
      if (!(error instanceof ResourceInUseException)) throw error;
    }
  }
  await waitUntilActive(client, tableName);
  await addMissingIndexes(client, tableName);
  await enableTtl(client, tableName);
}

type IndexDefinition = (typeof TABLE_INDEXES)[keyof typeof TABLE_INDEXES];

const indexAttributes = (indexes: readonly IndexDefinition[]) =>
  indexes.flatMap((index) => [
    { AttributeName: index.partitionKey, AttributeType: "S" as const },
    { AttributeName: index.sortKey, AttributeType: "N" as const },
  ]);

const indexSpec = (index: IndexDefinition) => ({
  IndexName: index.indexName,
  KeySchema: [
    { AttributeName: index.partitionKey, KeyType: "HASH" as const },
    { AttributeName: index.sortKey, KeyType: "RANGE" as const },
  ],
  Projection:
    index.include.length > 0
      ? { ProjectionType: "INCLUDE" as const, NonKeyAttributes: [...index.include] }
      : { ProjectionType: "KEYS_ONLY" as const },
});

/** A table made by an older hookline lacks the ledger's indexes: add them, one at a time. */
async function addMissingIndexes(client: DynamoDBClient, tableName: string): Promise<void> {
  const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
  const present = new Set((Table?.GlobalSecondaryIndexes ?? []).map((index) => index.IndexName));
  for (const index of Object.values(TABLE_INDEXES)) {
    if (present.has(index.indexName)) continue;
    await client.send(
      new UpdateTableCommand({
        TableName: tableName,
        AttributeDefinitions: indexAttributes([index]),
        GlobalSecondaryIndexUpdates: [{ Create: indexSpec(index) }],
      }),
    );
    await waitUntilActive(client, tableName);
  }
}

async function tableExists(client: DynamoDBClient, tableName: string): Promise<boolean> {
  try {
    await client.send(new DescribeTableCommand({ TableName: tableName }));
    return true;
  } catch (error) {
    if (error instanceof ResourceNotFoundException) return false;
    throw error;
  }
}

async function waitUntilActive(
  client: DynamoDBClient,
  tableName: string,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
    const indexesActive = (Table?.GlobalSecondaryIndexes ?? []).every(
      (index) => index.IndexStatus === undefined || index.IndexStatus === "ACTIVE",
    );
    if (Table?.TableStatus === "ACTIVE" && indexesActive) return;
    if (Date.now() > deadline) {
      throw new Error(`table ${tableName} is still ${Table?.TableStatus} after ${timeoutMs} ms`);
    }
    await sleep(100);
  }
}

async function enableTtl(client: DynamoDBClient, tableName: string): Promise<void> {
  if (await ttlEnabled(client, tableName)) return;
  try {
    await client.send(
      new UpdateTimeToLiveCommand({
        TableName: tableName,
        TimeToLiveSpecification: { AttributeName: TABLE_TTL_ATTRIBUTE, Enabled: true },
      }),
    );
  } catch (error) {
    // dynalite has no TTL; expiry is compared with `now` in every condition anyway.
    if ((error as { name?: unknown }).name === "UnknownOperationException") return;
    // A concurrent ensureTable may have enabled it a moment ago.
    if (await ttlEnabled(client, tableName)) return;
    throw error;
  }
}

async function ttlEnabled(client: DynamoDBClient, tableName: string): Promise<boolean> {
  const { TimeToLiveDescription } = await client.send(
    new DescribeTimeToLiveCommand({ TableName: tableName }),
  );
  const status = TimeToLiveDescription?.TimeToLiveStatus;
  return status === "ENABLED" || status === "ENABLING";
}
