import { ListTablesCommand } from "@aws-sdk/client-dynamodb";
import { describe, expect, it } from "vitest";
import { type LocalDynamo, startDynalite } from "../../functions/local/dynalite-server";
import { makeTestClient } from "../support/dynamo-servers";
import { useStarted } from "../support/use-started";

/** A request as a web page's fetch would make it: JSON-RPC to DynamoDB, with its Origin. */
const pageRequest = (dynamo: LocalDynamo, method: string, headers: Record<string, string>) =>
  fetch(dynamo.endpoint, {
    method,
    headers: {
      "content-type": "application/x-amz-json-1.0",
      "x-amz-target": "DynamoDB_20120810.ListTables",
      ...headers,
    },
    ...(method === "POST" ? { body: "{}" } : {}),
  });

describe("the embedded DynamoDB-compatible server of the local run", () => {
  const dynamo = useStarted("dynalite", () => startDynalite());

  it("answers a client that signs with this run's credentials", async () => {
    const client = makeTestClient(dynamo.endpoint, dynamo.credentials);
    try {
      await expect(client.send(new ListTablesCommand({}))).resolves.toMatchObject({
        TableNames: [],
      });
    } finally {
      client.destroy();
    }
  });

  it("refuses a client with other credentials", async () => {
    const client = makeTestClient(dynamo.endpoint, {
      accessKeyId: "local",
      secretAccessKey: "local",
    });
    try {
      await expect(client.send(new ListTablesCommand({}))).rejects.toThrow(/credentials|refused/i);
    } finally {
      client.destroy();
    }
  });

  it("refuses any request from a web page, and gives a preflight no CORS headers", async () => {
    const authorization = `AWS4-HMAC-SHA256 Credential=${dynamo.credentials.accessKeyId}/20261204/local/dynamodb/aws4_request, SignedHeaders=host, Signature=00`;
    const fromPage = await pageRequest(dynamo, "POST", {
      origin: "http://evil.example",
      authorization,
    });
    expect(fromPage.status).toBe(403);
    expect(fromPage.headers.get("access-control-allow-origin")).toBeNull();
    const preflight = await pageRequest(dynamo, "OPTIONS", {
      origin: "http://evil.example",
      "access-control-request-method": "POST",
    });
    expect(preflight.status).toBe(403);
    expect(preflight.headers.get("access-control-allow-origin")).toBeNull();
    expect(preflight.headers.get("access-control-allow-headers")).toBeNull();
  });
});
