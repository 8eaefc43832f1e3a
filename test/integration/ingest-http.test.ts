import { createHmac, randomUUID } from "node:crypto";
import { connect } from "node:net";
import { describe, expect, it } from "vitest";
import { startHttpServer } from "../../functions/local/http-server";
import {
  INGEST_SECRETS,
  ingestTestConfig,
  post,
  startIngestServer,
} from "../support/ingest-server";
import { githubExamples, githubRequest, stripeRequest } from "../support/signers";
import { useStarted } from "../support/use-started";

const hmacHeaders = (body: string, headers: Record<string, string>, timestamp?: number) => {
  const signed = timestamp === undefined ? body : `${timestamp}.${body}`;
  const signature = createHmac("sha256", INGEST_SECRETS.SHOP_SECRET).update(signed).digest("hex");
  return {
    "content-type": "application/json",
    ...headers,
    ...(timestamp === undefined
      ? { "x-shop-signature": `sha256=${signature}` }
      : { "x-shop-signature": signature, "x-shop-timestamp": String(timestamp) }),
  };
};

/**
 * Writes raw bytes on a fresh connection; resolves with the status line and whether it closed, once
 * the server closes it or after `waitMs` (a generous bound: the servers under test close at once).
 */
function rawExchange(
  url: string,
  head: string,
  options: { body?: Buffer; waitMs?: number } = {},
): Promise<{ statusLine: string | undefined; closed: boolean }> {
  const { port, hostname } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname);
    let received = "";
    let closed = false;
    const finish = () => {
      clearTimeout(timer);
      resolve({
        statusLine: received.split("\r\n")[0] || undefined,
        closed,
      });
      socket.destroy();
    };
    const timer = setTimeout(finish, options.waitMs ?? 30_000);
    socket.on("data", (chunk) => {
      received += chunk.toString("latin1");
    });
    socket.on("error", () => {});
    socket.on("close", () => {
      closed = true;
      finish();
    });
    socket.write(head);
    if (options.body) socket.write(options.body);
  });
}

describe("ingest over HTTP: replays, sizes and malformed requests", () => {
  const server = useStarted("the ingest server", () => startIngestServer());

  it("refuses an event id or name that is no well-formed Unicode: two such ids were stored as one", async () => {
    // Over 512 bytes an id is hashed for its key, as UTF-8, where every lone surrogate is U+FFFD:
    // these two ids had one receipt, and the second event was answered `duplicate`, never sent.
    const long = `evt_${"€".repeat(170)}`;
    const events = [`${long}\uD800`, `${long}\uDBFF`].map((id) => ({
      id,
      type: "invoice.paid",
      userId: 5,
      text: "paid",
    }));
    events.push({ id: `evt_${randomUUID()}`, type: "invoice.paid\uDC00", userId: 5, text: "paid" });
    for (const event of events) {
      const request = stripeRequest(INGEST_SECRETS.STRIPE_SECRET, event);
      const answer = await post(server, "/webhooks/stripe", request.headers, request.body);
      expect(answer).toMatchObject({ status: 400, body: { error: "bad_request" } });
      expect(answer.body.message).toMatch(/^event (id|name) is not well-formed Unicode/);
    }
  });

  describe("replays of a captured signed body (item 7)", () => {
    it("GitHub: the same body under a new delivery id, or relabelled, is a duplicate", async () => {
      const payload = {
        action: "opened",
        number: 1,
        pull_request: {},
        userId: 41,
        text: `hello ${randomUUID()}`,
      };
      const original = await githubRequest(INGEST_SECRETS.GITHUB_SECRET, "pull_request", payload);
      expect((await post(server, "/webhooks/github", original.headers, original.body)).status).toBe(
        202,
      );
      const before = server.queued.length;

      const replayed = { ...original.headers, "x-github-delivery": randomUUID() };
      // Relabelled as another event that the body could also be (no object of its own).
      const relabelled = { ...replayed, "x-github-event": "watch" };
      for (const headers of [replayed, relabelled, replayed]) {
        const answer = await post(server, "/webhooks/github", headers, original.body);
        expect(answer).toMatchObject({ status: 200, body: { status: "duplicate" } });
      }
      const asIssues = { ...replayed, "x-github-event": "issues" };
      expect((await post(server, "/webhooks/github", asIssues, original.body)).status).toBe(400);
      // Deliver has not taken the job yet (no outcome): each replay queued a copy of the
      // original's job, which deliver settles once, never a job of its own.
      const jobIds = server.queued
        .slice(before - 1)
        .map((job) => job.kind === "event" && job.jobId);
      expect(jobIds).toHaveLength(4);
      expect(new Set(jobIds).size).toBe(1);
    });

    it("GitHub: an ignored delivery relabelled as a routed event is refused, with no write", async () => {
      const route = { source: "github", events: ["issues.*"], userId: "7", message: "hi" };
      const ignoring = await startIngestServer(ingestTestConfig({ routes: [route] }));
      try {
        const [push] = githubExamples("push");
        const original = await githubRequest(INGEST_SECRETS.GITHUB_SECRET, "push", push);
        const ignored = await post(ignoring, "/webhooks/github", original.headers, original.body);
        expect(ignored).toMatchObject({ status: 200, body: { status: "ignored" } });
        const relabelled = { ...original.headers, "x-github-event": "issues" };
        const answer = await post(ignoring, "/webhooks/github", relabelled, original.body);
        expect(answer.status).toBe(400);
        expect(ignoring.queued).toEqual([]);
        expect(await ignoring.itemCount()).toBe(0);
      } finally {
        await ignoring.close();
      }
    });

    it("GitHub: a sender's redelivery (same id, same body) is still a duplicate", async () => {
      const request = await githubRequest(INGEST_SECRETS.GITHUB_SECRET, "push", {
        ref: "refs/heads/main",
        commits: [],
        pusher: {},
        userId: 42,
        text: randomUUID(),
      });
      expect((await post(server, "/webhooks/github", request.headers, request.body)).status).toBe(
        202,
      );
      const again = await post(server, "/webhooks/github", request.headers, request.body);
      expect(again).toMatchObject({ status: 200, body: { status: "duplicate" } });
    });

    it("HMAC with a header id: the same body under a new id is a duplicate", async () => {
      const body = JSON.stringify({ userId: 43, text: randomUUID() });
      const headers = (id: string) =>
        hmacHeaders(body, { "x-shop-event-id": id, "x-shop-event": "order.paid" });
      expect((await post(server, "/webhooks/shop", headers("e-1"), body)).status).toBe(202);
      const replay = await post(server, "/webhooks/shop", headers(randomUUID()), body);
      expect(replay).toMatchObject({ status: 200, body: { status: "duplicate" } });
    });

    it("HMAC with a signed timestamp: a replay under a new id and a re-signed retry are duplicates", async () => {
      const body = JSON.stringify({ event: "order.paid", userId: 44, text: randomUUID() });
      const now = Math.floor(Date.now() / 1000);
      const id = randomUUID();
      const first = hmacHeaders(body, { "x-shop-event-id": id }, now);
      expect((await post(server, "/webhooks/timed", first, body)).status).toBe(202);

      const replay = { ...first, "x-shop-event-id": randomUUID() };
      const retry = hmacHeaders(body, { "x-shop-event-id": id }, now + 1);
      for (const headers of [replay, retry]) {
        const answer = await post(server, "/webhooks/timed", headers, body);
        expect(answer).toMatchObject({ status: 200, body: { status: "duplicate" } });
      }
    });
  });

  describe("sizes (item 8)", () => {
    const stripeEvent = (id: string) => ({
      id,
      type: "invoice.payment_failed",
      data: { object: { metadata: { userId: 45 } } },
    });

    it("answers 400 to a signed event id over 256 characters, and writes nothing", async () => {
      const before = await server.itemCount();
      for (const id of [`evt_${"x".repeat(253)}`, `evt_${"x".repeat(450 * 1024)}`]) {
        const request = stripeRequest(INGEST_SECRETS.STRIPE_SECRET, stripeEvent(id));
        const answer = await post(server, "/webhooks/stripe", request.headers, request.body);
        expect(answer).toMatchObject({ status: 400, body: { error: "bad_request" } });
      }
      expect(await server.itemCount()).toBe(before);
    });

    it("accepts an id of exactly 256 characters", async () => {
      const request = stripeRequest(
        INGEST_SECRETS.STRIPE_SECRET,
        stripeEvent(`evt_${randomUUID()}`.padEnd(256, "x")),
      );
      expect((await post(server, "/webhooks/stripe", request.headers, request.body)).status).toBe(
        202,
      );
    });

    it("answers 413 by content-length before the body is sent", async () => {
      const url = new URL(server.url);
      const { statusLine } = await rawExchange(
        server.url,
        `POST /webhooks/stripe HTTP/1.1\r\nHost: ${url.host}\r\ncontent-type: application/json\r\ncontent-length: ${5 * 1024 * 1024}\r\n\r\n`,
      );
      expect(statusLine).toBe("HTTP/1.1 413 Payload Too Large");
    });

    it("stops reading a body without content-length once it passes the limit", async () => {
      const url = new URL(server.url);
      const chunk = Buffer.alloc(1024 * 1024 + 1, "a");
      const { statusLine, closed } = await rawExchange(
        server.url,
        `POST /webhooks/stripe HTTP/1.1\r\nHost: ${url.host}\r\ntransfer-encoding: chunked\r\n\r\n`,
        // One chunk over the limit, and the body never ends: only a server that stops reading answers.
        { body: Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk]) },
      );
      expect(statusLine).toBe("HTTP/1.1 413 Payload Too Large");
      expect(closed).toBe(true);
    });

    it("does not read the body for an unknown source", async () => {
      const url = new URL(server.url);
      const { statusLine } = await rawExchange(
        server.url,
        `POST /webhooks/nope HTTP/1.1\r\nHost: ${url.host}\r\ncontent-length: ${512 * 1024}\r\n\r\n`,
      );
      expect(statusLine).toBe("HTTP/1.1 404 Not Found");
    });
  });

  describe("malformed paths (item 9)", () => {
    it.each(["/webhooks/%", "/webhooks/%E0%A4%A", "/webhooks/github%zz", "/%"])(
      "answers POST %s with 400",
      async (path) => {
        const answer = await post(server, path, { "content-type": "application/json" }, "{}");
        expect(answer).toMatchObject({ status: 400, body: { error: "bad_request" } });
      },
    );
  });
});

/** Holds each caller until `count` have arrived, then lets them all go at once (later ones pass). */
function latch(count: number) {
  let arrived = 0;
  let open = () => {};
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return {
    arrive(): Promise<void> {
      arrived += 1;
      if (arrived >= count) open();
      return opened;
    },
  };
}

describe("the local HTTP server's answers, written together at the end of a turn", () => {
  it("answers each of many requests made in one turn with its own answer, in order on one connection", async () => {
    // The first 8 requests finish together, once all 8 are in: their answers share one turn (the
    // others go as they come).
    const all = latch(8);
    const server = await startHttpServer(async () => ({ statusCode: 404 }), 0, "127.0.0.1", {
      sourceIds: new Set(["shop"]),
      webhook: async (request) => {
        await all.arrive();
        return { statusCode: 202, body: { status: "accepted", eventId: request.body.toString() } };
      },
    });
    try {
      const url = `${server.url}/webhooks/shop`;
      const ids = Array.from({ length: 40 }, (_, index) => `event-${index}`);
      const answers = await Promise.all(
        ids.map(async (id) => {
          const response = await fetch(url, { method: "POST", body: id });
          return { status: response.status, body: await response.json() };
        }),
      );
      expect(answers).toEqual(
        ids.map((eventId) => ({ status: 202, body: { status: "accepted", eventId } })),
      );
      // Two requests in one write on one connection: two answers, in the order asked.
      const { port, hostname } = new URL(server.url);
      const request = (id: string) =>
        `POST /webhooks/shop HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Length: ${id.length}\r\n\r\n${id}`;
      const received = await new Promise<string>((resolve) => {
        const socket = connect(Number(port), hostname);
        let text = "";
        socket.on("data", (chunk) => {
          text += chunk.toString("latin1");
          if (text.split('"eventId"').length === 3) {
            socket.destroy();
            resolve(text);
          }
        });
        socket.write(request("first") + request("second"));
      });
      expect(received.match(/"eventId":"(\w+)"/g)).toEqual([
        '"eventId":"first"',
        '"eventId":"second"',
      ]);
    } finally {
      await server.close();
    }
  });
  it("answers 500 when an answer cannot be written, and still writes the others of its turn", async () => {
    // Both handlers finish together, once both requests are in: their answers share one turn.
    const both = latch(2);
    const server = await startHttpServer(async (event) => {
      await both.arrive();
      return event.rawPath === "/bad"
        ? { statusCode: 200, headers: { "x-bad": "line\nbreak" }, body: "{}" }
        : { statusCode: 200, body: '{"status":"ok"}' };
    }, 0);
    try {
      const [bad, good] = await Promise.all(
        ["/bad", "/good"].map((path) => fetch(`${server.url}${path}`)),
      );
      expect(bad?.status).toBe(500);
      expect(await bad?.json()).toEqual({ error: "internal_error", message: "internal error" });
      expect(good?.status).toBe(200);
    } finally {
      await server.close();
    }
  });
});

describe("the local HTTP server's timeouts (item 10)", () => {
  it("closes a silent connection after the headers timeout", async () => {
    const server = await startHttpServer(
      async () => ({ statusCode: 200, body: "{}" }),
      0,
      "127.0.0.1",
      { headersTimeoutMs: 300, requestTimeoutMs: 600, keepAliveTimeoutMs: 300 },
    );
    try {
      // Bounds, not timings: each exchange ends as soon as the server closes the connection.
      const silent = await rawExchange(server.url, "", { waitMs: 30_000 });
      expect(silent.closed).toBe(true);
      const slowHeaders = await rawExchange(
        server.url,
        "POST /webhooks/x HTTP/1.1\r\nHost: x\r\n",
        { waitMs: 30_000 },
      );
      expect(slowHeaders.closed).toBe(true);
    } finally {
      await server.close();
    }
  });

  it("uses finite timeouts by default", async () => {
    const server = await startHttpServer(async () => ({ statusCode: 200, body: "{}" }), 0);
    try {
      // The default headers timeout is 10 s; the bound leaves a loaded machine room.
      const silent = await rawExchange(server.url, "", { waitMs: 50_000 });
      expect(silent.closed).toBe(true);
    } finally {
      await server.close();
    }
  });

  it("says in one line that the port is taken", async () => {
    const first = await startHttpServer(async () => ({ statusCode: 200 }), 0);
    const port = Number(new URL(first.url).port);
    try {
      await expect(startHttpServer(async () => ({ statusCode: 200 }), port)).rejects.toThrow(
        `port ${port} on 127.0.0.1 is already in use`,
      );
    } finally {
      await first.close();
    }
  });
});
