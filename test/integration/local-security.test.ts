import { request as httpRequest } from "node:http";
import { describe, expect, it } from "vitest";
import { makeInbox } from "../../functions/local/inbox/index";
import { makeLocalAdmin } from "../../functions/local/local-admin";
import { TEST_SECRETS, testConfig, useTestBridge } from "../support/bridge";
import { hmacSource, SENDER_SOURCES, shopSource } from "../support/config-fixtures";
import { shopRequest } from "../support/signers";

/** One request with any Host header (fetch would set its own). */
function call(
  url: string,
  options: {
    method?: string;
    host?: string;
    headers?: Record<string, string>;
    /** The request target as sent, when it is no URL's path (`http://[`). */
    target?: string;
    body?: string;
  } = {},
): Promise<{ status: number; body: string }> {
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      {
        host: target.hostname,
        port: target.port,
        path: options.target ?? `${target.pathname}${target.search}`,
        method: options.method ?? "GET",
        headers: { host: options.host ?? target.host, ...options.headers },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("end", () =>
          resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString() }),
        );
      },
    );
    request.on("error", reject);
    request.end(options.body);
  });
}

describe("the local run refuses other sites and rebinding pages", () => {
  // `plain` signs in a header whose name says nothing of a signature.
  const config = testConfig({
    sources: [...SENDER_SOURCES, shopSource(), hmacSource("plain", "x-plain-hmac")],
  });
  const bridge = useTestBridge(config, {
    env: { ...TEST_SECRETS, PLAIN_SECRET: "plain-e2e-secret" },
    pages: (running) => [
      makeInbox({ config, env: TEST_SECRETS, tableName: "hookline-e2e", bridge: running }),
      makeLocalAdmin({ config, bridge: running }),
    ],
  });

  it("answers only Host 127.0.0.1, localhost or [::1] with its own port", async () => {
    const { port } = new URL(bridge.url);
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`]) {
      expect((await call(`${bridge.url}/_inbox/state.json`, { host })).status).toBe(200);
    }
    for (const host of [`evil.example:${port}`, "127.0.0.1", `localhost:${Number(port) + 1}`]) {
      const answer = await call(`${bridge.url}/_inbox/state.json`, { host });
      expect(answer.status).toBe(403);
      expect(answer.body).not.toContain('"requests"');
    }
  });

  it("refuses a web page of another site, or of none (Origin: null), before reading or recording", async () => {
    // A page anywhere can post a "simple" request (a form, text/plain) with no preflight.
    const before = bridge.requestLog.version;
    for (const origin of ["https://evil.example", "null", "http://127.0.0.1:1"]) {
      const fromPage = await call(`${bridge.url}/webhooks/github`, {
        method: "POST",
        headers: { origin, "content-type": "text/plain" },
        body: '{"zen":"junk"}',
      });
      expect(fromPage.status).toBe(403);
    }
    expect(bridge.requestLog.version).toBe(before);
    const { origin } = new URL(bridge.url);
    const ownPage = await call(`${bridge.url}/_inbox/state.json`, { headers: { origin } });
    expect(ownPage.status).toBe(200);
  });

  it("refuses another site's image, script or frame load (no Origin, but Sec-Fetch-Site), not a link the developer follows", async () => {
    const before = bridge.requestLog.version;
    for (const site of ["cross-site", "same-site"]) {
      const load = await call(`${bridge.url}/from-a-page.png`, {
        headers: { "sec-fetch-site": site, "sec-fetch-mode": "no-cors" },
      });
      expect(load.status).toBe(403);
    }
    // A frame is a navigation too, but one the developer need not see or choose.
    const framed = await call(`${bridge.url}/in-a-frame`, {
      headers: {
        "sec-fetch-site": "cross-site",
        "sec-fetch-mode": "navigate",
        "sec-fetch-dest": "iframe",
      },
    });
    expect(framed.status).toBe(403);
    expect(bridge.requestLog.version).toBe(before);
    const followed = await call(`${bridge.url}/_inbox`, {
      headers: {
        "sec-fetch-site": "cross-site",
        "sec-fetch-mode": "navigate",
        "sec-fetch-dest": "document",
      },
    });
    expect(followed.status).toBe(200);
    const ownFetch = { "sec-fetch-site": "same-origin", "sec-fetch-mode": "cors" };
    expect((await call(`${bridge.url}/_inbox/sections`, { headers: ownFetch })).status).toBe(200);
  });

  it("gives the inbox page the run's token; sending a sample needs it", async () => {
    const page = await call(`${bridge.url}/_inbox`);
    const token = /<meta name="hookline-token" content="([^"]+)">/.exec(page.body)?.[1];
    expect(token).toBe(bridge.token);
    const sendPath = `${bridge.url}/_inbox/send/github`;
    const withoutToken = await call(sendPath, {
      method: "POST",
      headers: { "x-hookline-inbox": "1" },
    });
    expect(withoutToken.status).toBe(403);
    const wrongToken = await call(sendPath, {
      method: "POST",
      headers: { "x-hookline-inbox": "1", "x-hookline-token": `${token}x` },
    });
    expect(wrongToken.status).toBe(403);
    const sent = await call(sendPath, {
      method: "POST",
      headers: { "x-hookline-inbox": "1", "x-hookline-token": token ?? "" },
    });
    expect(sent.status).toBe(200);
  });

  it("the CLI's endpoints (replay, forget) need the token", async () => {
    const forget = `${bridge.url}/_local/simulator/forget?user=5`;
    const cliHeader = { "x-hookline-cli": "1" };
    expect((await call(forget, { method: "POST", headers: cliHeader })).status).toBe(403);
    const replay = `${bridge.url}/_local/dead-letters/replay`;
    expect((await call(replay, { method: "POST", headers: cliHeader })).status).toBe(403);
    const withToken = { ...cliHeader, "x-hookline-token": bridge.token };
    expect((await call(forget, { method: "POST", headers: withToken })).status).toBe(200);
  });

  it("the simulator's controls need the token, and its own Host", async () => {
    const origin = bridge.simulator?.origin ?? "";
    const outage = `${origin}/_simulator/outage`;
    expect((await call(outage, { method: "POST" })).status).toBe(403);
    const { port } = new URL(origin);
    const rebound = await call(`${origin}/_simulator/messages`, { host: `evil.example:${port}` });
    expect(rebound.status).toBe(403);
    expect((await call(`${origin}/_simulator/messages`)).status).toBe(200);
  });

  it("the simulator answers a request target that is no URL with a 400, and keeps running", async () => {
    // It runs in the local run's process: an uncaught throw here ends `npm start`.
    const origin = bridge.simulator?.origin ?? "";
    for (const target of ["http://[", "//["]) {
      expect((await call(`${origin}/`, { target })).status).toBe(400);
    }
    expect((await call(`${origin}/_simulator/messages`)).status).toBe(200);
  });

  it.each([
    ["expect", "100-continue"],
    ["upgrade", "websocket"],
  ])(
    "replays a stored webhook that came with %s: %s (a header of its connection)",
    async (name, value) => {
      // curl sends `Expect: 100-continue` with a large body; fetch refuses to send either header.
      const request = shopRequest(TEST_SECRETS.SHOP_SECRET, {
        id: `replay-${name}`,
        event: "note",
        userId: 9_101,
        text: "once",
      });
      const posted = await call(`${bridge.url}/webhooks/shop`, {
        method: "POST",
        headers: { ...request.headers, [name]: value },
        body: request.body,
      });
      expect(posted.status).toBe(202);
      const seq = bridge.requestLog.recent()[0]?.seq;
      const replay = await call(`${bridge.url}/_inbox/replay/${seq}`, {
        method: "POST",
        headers: { "x-hookline-inbox": "1", "x-hookline-token": bridge.token },
      });
      expect(JSON.parse(replay.body)).toMatchObject({
        status: 200,
        answer: { status: "duplicate" },
      });
    },
  );

  it("masks a source's signature header in the request view, whatever its name", async () => {
    const signature = `sha256=${"5e".repeat(32)}`;
    const posted = await call(`${bridge.url}/webhooks/plain`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-plain-hmac": signature },
      body: JSON.stringify({ id: "masked-1", event: "note" }),
    });
    expect(posted.status).toBe(401);
    const seq = bridge.requestLog.recent()[0]?.seq;
    const shown = await call(`${bridge.url}/_inbox/requests/${seq}`);
    expect(shown.body).not.toContain(signature.slice(7));
    expect(JSON.parse(shown.body).headers).toContainEqual([
      "x-plain-hmac",
      "sha2… (masked, 71 characters)",
    ]);
  });
});
