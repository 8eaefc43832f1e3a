import { connect } from "node:net";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeInbox } from "../../functions/local/inbox/index";
import { makeLocalAdmin } from "../../functions/local/local-admin";
import { startTestBridge, TEST_SECRETS, testConfig } from "../support/bridge";
import { startIngestServer } from "../support/ingest-server";

/** Sends one raw request line with a good Host header; resolves with the answer's status code. */
function statusFor(url: string, method: string, target: string): Promise<number> {
  const { port, hostname, host } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    let received = "";
    socket.on("data", (chunk) => {
      received += chunk.toString("latin1");
      const status = /^HTTP\/1\.1 (\d{3})/.exec(received);
      if (status) {
        resolve(Number(status[1]));
        socket.destroy();
      }
    });
    socket.on("error", reject);
    socket.on("close", () =>
      reject(new Error(`closed without an answer: ${JSON.stringify(target)}`)),
    );
    const body = method === "POST" ? "{}" : "";
    socket.write(
      `${method} ${target} HTTP/1.1\r\nHost: ${host}\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`,
    );
  });
}

/** Characters an HTTP/1.1 request target may hold as Node's parser accepts it. */
const targetChar = fc.constantFrom(
  ..."abcXYZ019/?#[]@:%.-_~!$&'()*+,;={}|^`\"<>\\".split(""),
  "%zz",
  "%00",
  "%2F",
  "%ff",
  "webhooks",
  "github",
  "/_inbox",
  "/_local/",
  "/_inbox/send/",
  "/_local/dead-letters/replay",
  "/health",
  "http://",
  "https://[",
);

const servers: [string, () => Promise<{ url: string; close(): Promise<void> }>][] = [
  ["ingest", () => startIngestServer()],
  [
    "npm start's server (inbox and CLI endpoints too)",
    () => {
      const config = testConfig();
      return startTestBridge(config, {
        pages: (running) => [
          makeInbox({ config, env: TEST_SECRETS, tableName: "hookline-e2e", bridge: running }),
          makeLocalAdmin({ config, bridge: running }),
        ],
      });
    },
  ],
];

describe.each(servers)("the local server's request targets: %s", (_, start) => {
  let server: { url: string; close(): Promise<void> };
  beforeAll(async () => {
    server = await start();
  });
  afterAll(() => server?.close());

  it.each([
    ["GET", "http://["],
    ["GET", "http://[::1"],
    ["POST", "http://[/webhooks/github"],
    ["GET", "//["],
  ])("answers %s %s with a 400", async (method, target) => {
    expect(await statusFor(server.url, method, target)).toBe(400);
  });

  it("answers no request target with a 5xx (fuzzed)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom("GET", "POST", "PUT", "OPTIONS"),
        fc.oneof(
          fc.array(targetChar, { maxLength: 12 }).map((parts) => `/${parts.join("")}`),
          fc.array(targetChar, { maxLength: 12 }).map((parts) => parts.join("")),
          fc.array(targetChar, { maxLength: 8 }).map((parts) => `http://${parts.join("")}`),
        ),
        async (method, target) => {
          if (target === "" || /\s/.test(target)) return;
          const status = await statusFor(server.url, method, target);
          expect(status, `${method} ${target}`).toBeLessThan(500);
        },
      ),
      { numRuns: 300 },
    );
  });
});
