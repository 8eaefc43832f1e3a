/**
 * One side of the local-run bench (bench/local-run.ts), in its own process:
 * `local` starts the local run as `npm start` does (embedded dynalite, the Bitrix24 simulator,
 * the inbox, the request log and its terminal lines, on stdout after `listening`); `bare` is the
 * reference, a plain node:http server that checks the HMAC and parses the JSON, nothing more.
 * Prints `listening <url>`, then serves until stdin closes. Loopback only.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { parseConfig } from "../functions/core/config";
import { silentLog } from "../functions/core/log";
import { startLocalBridge } from "../functions/local/bridge";
import { makeInbox } from "../functions/local/inbox/index";
import { makeTerminalOutput } from "../functions/local/terminal-output";

export const BENCH_SECRET = "local-run-bench-secret";
export const BENCH_SIGNATURE_HEADER = "x-shop-signature";

/** The config the local side runs: one HMAC source, one route, one simulated portal. */
export const benchConfig = () =>
  parseConfig({
    bitrix: { openLineCode: "ab515f5d85a8b844d484f6ea75a2e494" },
    sources: [
      {
        id: "shop",
        type: "hmac",
        secret: "env:SHOP_SECRET",
        header: BENCH_SIGNATURE_HEADER,
        prefix: "sha256=",
        eventId: { path: "id" },
        eventName: { path: "event" },
      },
    ],
    routes: [
      {
        source: "shop",
        events: ["order.*"],
        userId: "{{ payload.userId }}",
        message: "Order [b]{{ payload.order.number }}[/b]: {{ payload.order.status }}",
      },
    ],
  });

async function startLocal(): Promise<string> {
  const config = benchConfig();
  const env = { SHOP_SECRET: BENCH_SECRET };
  const bridge = await startLocalBridge({
    config,
    port: 0,
    env,
    tableName: "hookline-bench",
    log: silentLog,
    ...(process.env.BENCH_NO_DELIVER ? { queue: { concurrency: 0 } } : {}),
    pages: (running) => [makeInbox({ config, env, tableName: "hookline-bench", bridge: running })],
  });
  // The terminal as `npm start` writes it (bin/local.ts); the bench reads and drops it.
  // BENCH_LINE_PER_REQUEST=1: a line per request and outcome even in a burst, as before the summary.
  const burstLinesPerSecond = process.env.BENCH_LINE_PER_REQUEST
    ? Number.POSITIVE_INFINITY
    : undefined;
  bridge.requestLog.subscribe(
    makeTerminalOutput({
      write: (line) => process.stdout.write(`${line}\n`),
      ...(burstLinesPerSecond !== undefined && { burstLinesPerSecond }),
    }),
  );
  return bridge.url;
}

async function startBare(): Promise<string> {
  const secret = Buffer.from(BENCH_SECRET);
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const given = Buffer.from(
        String(req.headers[BENCH_SIGNATURE_HEADER] ?? "").replace(/^sha256=/, ""),
        "hex",
      );
      const expected = createHmac("sha256", secret).update(body).digest();
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        res.writeHead(401).end();
        return;
      }
      const payload = JSON.parse(body.toString("utf8")) as { id: string };
      res.writeHead(202, { "content-type": "application/json" });
      res.end(JSON.stringify({ status: "accepted", eventId: payload.id }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

if (process.argv[1]?.endsWith("local-run-server.ts")) {
  const side = process.argv[2];
  const url = side === "local" ? await startLocal() : await startBare();
  process.stdout.write(`listening ${url}\n`);
  process.stdin.resume();
  process.stdin.on("end", () => process.exit(0));
  process.once("SIGINT", () => process.exit(0));
  // An orderly exit, so a `--cpu-prof` profile is written.
  process.once("SIGTERM", () => process.exit(0));
}
