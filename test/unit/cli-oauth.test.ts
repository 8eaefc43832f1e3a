import { createServer } from "node:net";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { describe, expect, it } from "vitest";
import { authorizePortal } from "../../cli/commands/oauth";
import type { Target } from "../../cli/target";
import { parseConfig } from "../../functions/core/config";

/** A port nothing listens on: one the system just handed out and took back. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe("hookline oauth --code", () => {
  it("says the OAuth server is unreachable, not that it refused the code", async () => {
    const server = `http://127.0.0.1:${await closedPort()}`;
    const config = parseConfig({
      portals: [
        {
          id: "eu",
          url: "https://eu.example.bitrix24.com",
          oauth: { clientId: "env:ID", clientSecret: "env:SECRET", refreshToken: "env:RT", server },
          openLines: { billing: "fedcba9876543210fedcba9876543210" },
        },
      ],
      sources: [{ id: "gh", type: "github", secret: "env:GH" }],
    });
    // Never reached: the exchange fails first.
    const where: Target = {
      kind: "local",
      label: "nowhere",
      dynamo: new DynamoDBClient({ region: "local", endpoint: server }),
      tableName: "unused",
    };
    const attempt = authorizePortal(
      where,
      config,
      "eu",
      { code: "a-fresh-code" },
      { ID: "app.id", SECRET: "app-secret" },
      new Date(),
    );
    await expect(attempt).rejects.toThrow(
      `the OAuth server ${server} could not be reached; the code was not used: check the portal's oauth.server and the network, then run this again while the code is valid`,
    );
    await expect(attempt).rejects.not.toThrow(/refused/);
    where.dynamo.destroy();
  });
});
