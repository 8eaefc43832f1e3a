import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeBitrixWebhookClient } from "../../functions/adapters/bitrix-client";
import { MAX_ANSWER_BYTES, nodeHttpExchange } from "../../functions/adapters/http-exchange";
import type { RenderedMessage } from "../../functions/core/job";
import type { BitrixClient, SendResult } from "../../functions/core/ports";
import { startBitrixSimulator } from "../../functions/local/bitrix-simulator";
import { useStarted } from "../support/use-started";

const LINE = "ab515f5d85a8b844d484f6ea75a2e494";
const NOT_CONNECTED = "0123456789abcdef0123456789abcdef";
const METHOD = "imopenlines.network.message.add";
/** Generous: a loaded 2-core CI machine must never turn a plain answer into a timeout. */
const TIMEOUT_MS = 2000;
const HANG_MS = 5000;

/** Every result any test saw, checked at the end for the webhook secret. */
const results: SendResult[] = [];
const secrets: string[] = [];

function clientFor(sim: { webhookUrl: string }, timeoutMs = TIMEOUT_MS): BitrixClient {
  secrets.push(new URL(sim.webhookUrl).pathname.split("/")[3] ?? "");
  const client = makeBitrixWebhookClient({ webhookUrl: sim.webhookUrl, timeoutMs });
  return {
    async sendNetworkMessage(code, message, signal) {
      const result = await client.sendNetworkMessage(code, message, signal);
      results.push(result);
      return result;
    },
    sendSystemNotification: (notification, signal) =>
      client.sendSystemNotification(notification, signal),
  };
}

let nextUser = 1000;
const msg = (extra: Partial<RenderedMessage> = {}): RenderedMessage => ({
  userId: nextUser++,
  message: "Your issue [b]Fix it[/b] was closed.",
  ...extra,
});

async function listen(handler: Parameters<typeof createServer>[1]): Promise<[Server, string]> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return [server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`];
}

const closeServer = (server: Server) =>
  new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });

describe("Bitrix24 client against the simulator", () => {
  const sim = useStarted("the simulator", () =>
    startBitrixSimulator({ openLineCodes: [LINE], rateLimit: { burst: 1000, perSecond: 1000 } }),
  );
  let bitrix: BitrixClient;
  beforeAll(() => {
    bitrix = clientFor(sim);
  });

  it("sends a message with its optional fields", async () => {
    const message = msg({
      attach: [{ MESSAGE: "details" }],
      keyboard: [{ TEXT: "Open", LINK: "https://example.com/1" }],
      urlPreview: false,
    });
    await expect(bitrix.sendNetworkMessage(LINE, message)).resolves.toEqual({ kind: "sent" });
    expect(sim.messages.at(-1)).toMatchObject({
      code: LINE,
      userId: message.userId,
      message: message.message,
      attach: message.attach,
      keyboard: message.keyboard,
      urlPreview: "N",
    });
  });

  it("leaves URL_PREVIEW at the portal's default when not set", async () => {
    await bitrix.sendNetworkMessage(LINE, msg());
    expect(sim.messages.at(-1)?.urlPreview).toBe("Y");
    expect(sim.messages.at(-1)).not.toHaveProperty("attach");
  });

  /** A message Bitrix24 refuses as such: a 400 with `code`, whatever the line. */
  const refused = (
    name: string,
    message: RenderedMessage,
    code: string,
  ): [string, string, RenderedMessage, SendResult] => [
    name,
    LINE,
    message,
    { kind: "permanent", code, status: 400 },
  ];

  it.each<[string, string, RenderedMessage, SendResult]>([
    [
      "line not connected",
      NOT_CONNECTED,
      msg(),
      { kind: "config", code: "NOT_FOUND", status: 400 },
    ],
    ["code not 32 chars", "abc", msg(), { kind: "config", code: "CODE", status: 400 }],
    refused("user id 0", msg({ userId: 0 }), "USER_ID_EMPTY"),
    refused("blank message", msg({ message: "  \n " }), "MESSAGE_EMPTY"),
    refused("attach not a structure", msg({ attach: 42 }), "ATTACH_ERROR"),
    refused(
      "attach over 30 KB",
      msg({ attach: [{ MESSAGE: "x".repeat(31 * 1024) }] }),
      "ATTACH_OVERSIZE",
    ),
    refused(
      "keyboard without a link button",
      msg({ keyboard: [{ TEXT: "Run", COMMAND: "run" }] }),
      "KEYBOARD_ERROR",
    ),
  ])("rejects: %s", async (_name, code, message, expected) => {
    const before = sim.messages.length;
    await expect(bitrix.sendNetworkMessage(code, message)).resolves.toEqual(expected);
    expect(sim.messages).toHaveLength(before);
  });

  it("truncates a message over 20,000 characters", async () => {
    await expect(
      bitrix.sendNetworkMessage(LINE, msg({ message: "é".repeat(20_005) })),
    ).resolves.toEqual({ kind: "sent" });
    expect(sim.messages.at(-1)?.message).toBe(`${"é".repeat(20_000)} (...)`);
  });

  it("a wrong webhook code is a config fault", async () => {
    const wrong = clientFor({
      webhookUrl: sim.webhookUrl.replace(/\/rest\/1\/[^/]+\//, "/rest/1/nope/"),
    });
    await expect(wrong.sendNetworkMessage(LINE, msg())).resolves.toEqual({
      kind: "config",
      code: "NO_AUTH_FOUND",
      status: 401,
    });
  });

  describe("speaks the REST protocol", () => {
    it("answers the real envelope", async () => {
      const res = await fetch(`${sim.webhookUrl}${METHOD}.json`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ code: LINE, user_id: "77", message: "lower-case params" }),
      });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { result: unknown; time: Record<string, unknown> };
      expect(body.result).toBe(true);
      expect(Object.keys(body.time).sort()).toEqual(
        [
          "date_finish",
          "date_start",
          "duration",
          "finish",
          "operating",
          "operating_reset_at",
          "processing",
          "start",
        ].sort(),
      );
      expect(sim.messages.at(-1)).toMatchObject({ userId: 77, message: "lower-case params" });
    });

    it("accepts form-encoded bodies with nested params", async () => {
      const form = new URLSearchParams({
        CODE: LINE,
        USER_ID: "78",
        MESSAGE: "from a form",
        "KEYBOARD[0][TEXT]": "Open",
        "KEYBOARD[0][LINK]": "https://example.com",
        URL_PREVIEW: "N",
      });
      const res = await fetch(`${sim.webhookUrl}${METHOD}`, { method: "POST", body: form });
      expect(res.status).toBe(200);
      expect(sim.messages.at(-1)).toMatchObject({
        userId: 78,
        keyboard: { 0: { TEXT: "Open", LINK: "https://example.com" } },
        urlPreview: "N",
      });
    });

    it("answers 404 ERROR_METHOD_NOT_FOUND for another method", async () => {
      const res = await fetch(`${sim.webhookUrl}im.message.add`, { method: "POST" });
      expect(res.status).toBe(404);
      expect(await res.json()).toMatchObject({ error: "ERROR_METHOD_NOT_FOUND" });
    });

    it("refuses bodies over 1 MiB", async () => {
      const res = await fetch(`${sim.webhookUrl}${METHOD}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ MESSAGE: "x".repeat(1100 * 1024) }),
      });
      expect(res.status).toBe(413);
    });

    it("takes faults and lists messages over HTTP", async () => {
      const queued = await fetch(`${sim.origin}/_simulator/faults`, {
        method: "POST",
        body: JSON.stringify([{ status: 500 }]),
      });
      expect(queued.status).toBe(200);
      await expect(bitrix.sendNetworkMessage(LINE, msg())).resolves.toMatchObject({
        kind: "retry",
        status: 500,
      });
      const listed = await fetch(`${sim.origin}/_simulator/messages`);
      expect(await listed.json()).toEqual(JSON.parse(JSON.stringify(sim.messages)));

      const bad = await fetch(`${sim.origin}/_simulator/faults`, {
        method: "POST",
        body: JSON.stringify([{ status: "x" }]),
      });
      expect(bad.status).toBe(400);
    });
  });

  describe("faults", () => {
    it("injected 500 is a retry and nothing lands", async () => {
      const before = sim.messages.length;
      sim.inject({ status: 500 });
      await expect(bitrix.sendNetworkMessage(LINE, msg())).resolves.toEqual({
        kind: "retry",
        code: "INTERNAL_SERVER_ERROR",
        status: 500,
        retryAfterMs: 1000,
        overloaded: false,
      });
      expect(sim.messages).toHaveLength(before);
    });

    it("injected 503 is an overloaded retry", async () => {
      sim.inject({ status: 503 });
      await expect(bitrix.sendNetworkMessage(LINE, msg())).resolves.toEqual({
        kind: "retry",
        code: "QUERY_LIMIT_EXCEEDED",
        status: 503,
        retryAfterMs: 1500,
        overloaded: true,
      });
    });

    it("an unparseable 502 is ambiguous: a gateway may answer after the method ran", async () => {
      sim.inject({ status: 502, body: "<html>Bad Gateway</html>" });
      await expect(bitrix.sendNetworkMessage(LINE, msg())).resolves.toMatchObject({
        kind: "ambiguous",
        code: "HTTP_502",
      });
    });

    it("a hang past the timeout is ambiguous, and the message did land", async () => {
      const message = msg();
      sim.inject({ hangMs: HANG_MS, land: true });
      // TIMEOUT itself shows the client gave up first: after the hang the simulator answers 200.
      await expect(bitrix.sendNetworkMessage(LINE, message)).resolves.toEqual({
        kind: "ambiguous",
        code: "TIMEOUT",
      });
      expect(sim.messages.at(-1)).toMatchObject({ userId: message.userId });
    });

    it("a hang that does not land is just as ambiguous to the client", async () => {
      const before = sim.messages.length;
      sim.inject({ hangMs: HANG_MS, land: false });
      await expect(bitrix.sendNetworkMessage(LINE, msg())).resolves.toEqual({
        kind: "ambiguous",
        code: "TIMEOUT",
      });
      expect(sim.messages).toHaveLength(before);
    });

    // A dropped connection after the request went out is ambiguous, never a retry: the client
    // cannot tell whether the server ran the method (land: true) or not (land: false).
    it.each([true, false])("a dropped connection (land %s) is ambiguous", async (land) => {
      const before = sim.messages.length;
      sim.inject({ dropConnection: true, land });
      await expect(bitrix.sendNetworkMessage(LINE, msg())).resolves.toEqual({
        kind: "ambiguous",
        code: "CONNECTION_LOST",
      });
      expect(sim.messages).toHaveLength(land ? before + 1 : before);
    });

    it("the caller's abort mid-flight is ambiguous", async () => {
      sim.inject({ hangMs: HANG_MS, land: true });
      const slow = clientFor(sim, 10_000);
      await expect(slow.sendNetworkMessage(LINE, msg(), AbortSignal.timeout(500))).resolves.toEqual(
        { kind: "ambiguous", code: "ABORTED" },
      );
    });

    it("an already aborted caller sends nothing", async () => {
      const before = sim.stats.requests;
      const aborted = AbortSignal.abort();
      await expect(bitrix.sendNetworkMessage(LINE, msg(), aborted)).resolves.toMatchObject({
        kind: "retry",
        code: "ABORTED",
      });
      expect(sim.stats.requests).toBe(before);
    });
  });

  describe("a moved portal", () => {
    let moved: Server;
    let movedUrl: string;
    let hits = 0;
    let loop: Server;
    let loopUrl: string;
    let loopHits = 0;

    beforeAll(async () => {
      [moved, movedUrl] = await listen((req, res) => {
        hits++;
        const target = new URL(req.url ?? "/", sim.webhookUrl);
        target.pathname = `${new URL(sim.webhookUrl).pathname}${METHOD}`;
        res.writeHead(302, { location: target.href }).end();
      });
      [loop, loopUrl] = await listen((req, res) => {
        loopHits++;
        res.writeHead(307, { location: req.url ?? "/" }).end();
      });
    });
    afterAll(async () => {
      await closeServer(moved);
      await closeServer(loop);
    });

    it("repeats the same POST at the new address, once", async () => {
      const client = clientFor({ webhookUrl: `${movedUrl}/rest/1/oldcode/` });
      const message = msg();
      await expect(client.sendNetworkMessage(LINE, message)).resolves.toEqual({ kind: "sent" });
      expect(hits).toBe(1);
      expect(sim.messages.at(-1)).toMatchObject({
        userId: message.userId,
        message: message.message,
      });
    });

    // The path carries the webhook's secret: never repeated in the clear. The https portal is
    // played by an injected exchange (no trusted certificate here); the http one is real.
    it("refuses to follow an https portal down to http", async () => {
      const before = hits;
      const asked: string[] = [];
      const client = makeBitrixWebhookClient({
        webhookUrl: "https://portal.example/rest/1/tlscode/",
        timeoutMs: TIMEOUT_MS,
        exchange: async (url, request, signal) => {
          asked.push(url.protocol);
          if (url.protocol === "http:") return nodeHttpExchange(url, request, signal);
          return { status: 301, location: `${movedUrl}/rest/1/tlscode/${METHOD}`, text: "" };
        },
      });
      await expect(client.sendNetworkMessage(LINE, msg())).resolves.toEqual({
        kind: "config",
        code: "BAD_REDIRECT",
        status: 301,
      });
      expect(asked).toEqual(["https:"]);
      expect(hits).toBe(before);
    });

    it("does not follow a second redirect", async () => {
      const client = clientFor({ webhookUrl: `${loopUrl}/rest/1/loopcode/` });
      await expect(client.sendNetworkMessage(LINE, msg())).resolves.toEqual({
        kind: "config",
        code: "HTTP_307",
        status: 307,
      });
      expect(loopHits).toBe(2);
    });
  });

  it("a closed port is a NETWORK retry", async () => {
    const [server, url] = await listen(() => {});
    await closeServer(server);
    const client = clientFor({ webhookUrl: `${url}/rest/1/closedcode/` });
    await expect(client.sendNetworkMessage(LINE, msg())).resolves.toEqual({
      kind: "retry",
      code: "NETWORK",
      retryAfterMs: 1000,
      overloaded: false,
    });
  });

  // fetch decoded text as UTF-8 without a leading byte order mark (a PHP file saved with one
  // prints it before the JSON): the answer is read the same over node:http.
  it("reads an answer that starts with a UTF-8 byte order mark", async () => {
    const [server, url] = await listen((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" }).end('\uFEFF{"result":true}');
    });
    try {
      const client = clientFor({ webhookUrl: `${url}/rest/1/bomcode/` });
      await expect(client.sendNetworkMessage(LINE, msg())).resolves.toEqual({ kind: "sent" });
    } finally {
      await closeServer(server);
    }
  });

  it("names itself and sends JSON", async () => {
    let seen: Record<string, string | string[] | undefined> = {};
    const [server, url] = await listen((req, res) => {
      seen = req.headers;
      req.resume();
      res.writeHead(200, { "content-type": "application/json" }).end('{"result":true}');
    });
    try {
      const client = clientFor({ webhookUrl: `${url}/rest/1/uacode/` });
      await expect(client.sendNetworkMessage(LINE, msg())).resolves.toEqual({ kind: "sent" });
      expect(seen).toMatchObject({
        "user-agent": "hookline",
        "content-type": "application/json",
        accept: "application/json",
      });
    } finally {
      await closeServer(server);
    }
  });

  // node:http ends an answer that stops halfway or never stops with an error of its own; the
  // request went out, so the client may not retry it as unsent (functions/adapters/http-exchange.ts).
  it.each([
    [
      "cut off halfway",
      (res: ServerResponse) => {
        res.writeHead(200, { "content-type": "application/json", "content-length": "100" });
        res.write('{"result":');
        setTimeout(() => res.destroy(), 20);
      },
    ],
    [
      `longer than ${MAX_ANSWER_BYTES / 1024 / 1024} MiB`,
      (res: ServerResponse) => {
        res.writeHead(200, { "content-type": "application/json" });
        const chunk = Buffer.alloc(1024 * 1024, 0x20);
        const more = () => {
          while (!res.destroyed && res.write(chunk)) {}
          if (!res.destroyed) res.once("drain", more);
        };
        res.on("error", () => {});
        more();
      },
    ],
    [
      // node:http hands a 101 to an "upgrade" listener or drops the socket without an error: no
      // listener was a promise that never settled, not even at the timeout.
      "switching protocols (101) nobody asked for",
      (res: ServerResponse) => {
        res.socket?.write(
          "HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: x\r\n\r\n",
        );
      },
    ],
  ])("an answer %s is ambiguous", async (_name, answer) => {
    const [server, url] = await listen((_req, res) => answer(res));
    try {
      const client = clientFor({ webhookUrl: `${url}/rest/1/cutcode/` });
      await expect(client.sendNetworkMessage(LINE, msg())).resolves.toEqual({
        kind: "ambiguous",
        code: "CONNECTION_LOST",
      });
    } finally {
      server.closeAllConnections();
      await closeServer(server);
    }
  });
});

describe("weekly limit", () => {
  let clock = Date.UTC(2025, 0, 6);
  const sim = useStarted("the simulator", () =>
    startBitrixSimulator({ openLineCodes: [LINE], now: () => clock }),
  );
  let bitrix: BitrixClient;
  beforeAll(() => {
    bitrix = clientFor(sim);
  });

  it("allows one message per user per rolling 7 days", async () => {
    await expect(bitrix.sendNetworkMessage(LINE, msg({ userId: 5 }))).resolves.toEqual({
      kind: "sent",
    });
    await expect(bitrix.sendNetworkMessage(LINE, msg({ userId: 5 }))).resolves.toEqual({
      kind: "limited",
      code: "USER_MESSAGE_LIMIT",
    });
    await expect(bitrix.sendNetworkMessage(LINE, msg({ userId: 6 }))).resolves.toEqual({
      kind: "sent",
    });

    clock += 7 * 24 * 3600 * 1000 - 1;
    await expect(bitrix.sendNetworkMessage(LINE, msg({ userId: 5 }))).resolves.toMatchObject({
      kind: "limited",
    });
    clock += 1;
    await expect(bitrix.sendNetworkMessage(LINE, msg({ userId: 5 }))).resolves.toEqual({
      kind: "sent",
    });
    expect(sim.messages.filter((m) => m.userId === 5)).toHaveLength(2);
  });

  it("a failed send uses no quota", async () => {
    await bitrix.sendNetworkMessage(LINE, msg({ userId: 9, message: " " }));
    await expect(bitrix.sendNetworkMessage(LINE, msg({ userId: 9 }))).resolves.toEqual({
      kind: "sent",
    });
  });

  it("is off for a partner (NFR) portal", async () => {
    const nfr = await startBitrixSimulator({ openLineCodes: [LINE], weeklyLimit: false });
    try {
      const client = clientFor(nfr);
      await expect(client.sendNetworkMessage(LINE, msg({ userId: 5 }))).resolves.toEqual({
        kind: "sent",
      });
      await expect(client.sendNetworkMessage(LINE, msg({ userId: 5 }))).resolves.toEqual({
        kind: "sent",
      });
      expect(nfr.messages).toHaveLength(2);
    } finally {
      await nfr.close();
    }
  });
});

describe("leaky bucket", () => {
  const burst = 10;
  let clock = Date.UTC(2025, 0, 6);
  const sim = useStarted("the simulator", () =>
    startBitrixSimulator({
      openLineCodes: [LINE],
      rateLimit: { burst, perSecond: 2 },
      weeklyLimit: false,
      now: () => clock,
    }),
  );
  let bitrix: BitrixClient;
  beforeAll(() => {
    bitrix = clientFor(sim, 5000);
  });

  it("admits exactly burst requests from an idle bucket, then 503", async () => {
    const all = await Promise.all(
      Array.from({ length: burst + 5 }, () => bitrix.sendNetworkMessage(LINE, msg())),
    );
    expect(all.filter((r) => r.kind === "sent")).toHaveLength(burst);
    const refused = all.filter((r) => r.kind !== "sent");
    expect(refused).toHaveLength(5);
    for (const r of refused) {
      expect(r).toEqual({
        kind: "retry",
        code: "QUERY_LIMIT_EXCEEDED",
        status: 503,
        retryAfterMs: 1500,
        overloaded: true,
      });
    }
    expect(sim.stats).toMatchObject({ accepted: burst, rejectedRateLimit: 5 });
  });

  it("drains perSecond continuously, fractions included", async () => {
    clock += 250; // drains 0.5: 9.5 in the bucket, one more fits
    await expect(bitrix.sendNetworkMessage(LINE, msg())).resolves.toEqual({ kind: "sent" });
    await expect(bitrix.sendNetworkMessage(LINE, msg())).resolves.toMatchObject({
      kind: "retry",
      overloaded: true,
    });
    clock += 1000; // 10.5 - 2 = 8.5: two fit, the third does not
    const next = [];
    for (let i = 0; i < 3; i++) next.push(await bitrix.sendNetworkMessage(LINE, msg()));
    expect(next.map((r) => r.kind)).toEqual(["sent", "sent", "retry"]);
  });
});

describe("the webhook secret", () => {
  it("never appears in a result", () => {
    expect(results.length).toBeGreaterThan(30);
    const serialized = JSON.stringify(results);
    for (const secret of secrets) {
      expect(secret.length).toBeGreaterThan(3);
      expect(serialized).not.toContain(secret);
    }
    expect(serialized).not.toContain("127.0.0.1");
  });

  it("never appears in a configuration error", () => {
    const secret = "s3cr3tc0de";
    for (const webhookUrl of [`not a url ${secret}`, `https://portal.example/api/${secret}/`]) {
      expect(() => makeBitrixWebhookClient({ webhookUrl, timeoutMs: 100 })).toThrow(
        expect.objectContaining({ message: expect.not.stringContaining(secret) }),
      );
    }
  });
});
