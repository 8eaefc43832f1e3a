/**
 * The local run under load, side by side with a bare server (bench/local-run-server.ts): the
 * same signed webhooks posted by the same client at the same concurrency to `npm start`'s
 * pipeline and to a node:http server that only checks the HMAC and parses the JSON. Each round
 * starts each side fresh, in its own process, in an order that rotates; loopback only.
 * `BENCH_BEFORE=<another checkout>` adds a third side: that checkout's local side, in the same
 * rounds, for a before/after on the same machine at the same time.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createHmac } from "node:crypto";
import { readFileSync } from "node:fs";
import { Agent, request } from "node:http";
import { resolve } from "node:path";
import { BENCH_SECRET, BENCH_SIGNATURE_HEADER } from "./local-run-server";
import { median } from "./stats";

export interface LocalRunOptions {
  webhooks: number;
  concurrency: number;
  rounds: number;
}

export interface SideRound {
  /** Answers 2xx per second of wall time. */
  rate: number;
  accepted: number;
  other: number;
  /** RSS after the run minus RSS after the warm-up, bytes. */
  rssGrowth: number;
  /** The server process's CPU time (user + system, all its threads) per accepted webhook, µs. */
  cpuPerWebhookUs: number;
  /** The part of it spent in the kernel (socket reads and writes, wake-ups), µs. */
  systemPerWebhookUs: number;
}

export interface LocalRunResult {
  options: LocalRunOptions;
  local: SideRound[];
  bare: SideRound[];
  /** Per round: local rate / bare rate. */
  ratios: number[];
  /** With `before`: that checkout's local side, and its rate / the bare rate, per round. */
  before?: { checkout: string; rounds: SideRound[]; ratios: number[] };
}

type Side = "local" | "bare" | "before";

const SERVER = resolve(import.meta.dirname, "local-run-server.ts");
const WARMUP = 200;

/** A ~1 KB order webhook, signed as the `shop` source's sender signs. */
function signedWebhook(index: number, runId: string): { body: string; signature: string } {
  const body = JSON.stringify({
    id: `${runId}-${index}`,
    event: "order.paid",
    userId: 1 + (index % 500),
    order: {
      number: `SO-${100_000 + index}`,
      status: "paid",
      currency: "EUR",
      total: 129.9,
      items: Array.from({ length: 6 }, (_, item) => ({
        sku: `SKU-${item}-${index % 97}`,
        name: `Item ${item} of order ${index}`,
        quantity: 1 + (item % 3),
        price: 19.99,
      })),
      shipping: { method: "standard", city: "Berlin", country: "DE" },
    },
  });
  const signature = `sha256=${createHmac("sha256", BENCH_SECRET).update(body).digest("hex")}`;
  return { body, signature };
}

async function startSide(
  side: Side,
  before?: string,
): Promise<{ child: ChildProcess; url: string }> {
  // BENCH_CPU_PROF=<dir> profiles every side (`node --cpu-prof`, into <dir>/local, <dir>/bare…).
  const profile = process.env.BENCH_CPU_PROF;
  const flags = profile ? ["--cpu-prof", "--cpu-prof-dir", resolve(profile, side)] : [];
  const server =
    side === "before" && before ? resolve(before, "bench/local-run-server.ts") : SERVER;
  const args = [...flags, "--import", "tsx", server, side === "bare" ? "bare" : "local"];
  // BENCH_PIN=1: the server (all its threads) on the second CPU, the client on the first.
  const pinned = process.env.BENCH_PIN ? ["-c", SERVER_CPU, process.execPath] : [];
  const child = spawn(pinned.length > 0 ? "taskset" : process.execPath, [...pinned, ...args], {
    stdio: ["pipe", "pipe", "inherit"],
    env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true" },
    ...(side === "before" && before ? { cwd: before } : {}),
  });
  const url = await new Promise<string>((resolveUrl, reject) => {
    let output = "";
    const listening = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening (\S+)/.exec(output);
      if (!match?.[1]) return;
      // From here on the side's terminal lines are read and dropped, as a terminal takes them.
      child.stdout?.off("data", listening);
      child.stdout?.on("data", () => {});
      resolveUrl(match[1]);
    };
    child.stdout?.on("data", listening);
    child.once("exit", (code) => reject(new Error(`${side} server exited (${code}): ${output}`)));
  });
  return { child, url };
}

function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
  return Number(kib ?? Number.NaN) * 1024;
}

/** CPU time of a process so far (all threads), µs, from `/proc/<pid>/stat`: user and system. */
function cpuMicros(pid: number): { user: number; system: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name (which may hold spaces), 1-based: utime is 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const micros = (ticks: number) => (ticks * 1e6) / CLOCK_TICKS_PER_SECOND;
  return { user: micros(Number(fields[11])), system: micros(Number(fields[12])) };
}

/** With BENCH_PIN, the CPU each server runs on; the client runs on CPU 0. */
const SERVER_CPU = "1";

/**
 * BENCH_PIN=1 (Linux, `taskset`): the client's threads on CPU 0, each server's on CPU 1, so a
 * round no longer depends on where the scheduler put the two processes (sharing one CPU halves a
 * server's rate, measured: the rounds flip between two rates otherwise).
 */
function pinClient(): void {
  const result = spawnSync("taskset", ["-a", "-p", "-c", "0", String(process.pid)]);
  if (result.status !== 0)
    throw new Error(`BENCH_PIN needs taskset: ${result.stderr ?? result.error}`);
}

/** Linux's USER_HZ, the unit of `/proc/<pid>/stat`'s times. */
const CLOCK_TICKS_PER_SECOND = 100;

/** Posts the webhooks `concurrency` at a time over keep-alive connections; counts the answers. */
async function post(
  url: string,
  webhooks: readonly { body: string; signature: string }[],
  concurrency: number,
): Promise<{ accepted: number; other: number; seconds: number }> {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const target = new URL("/webhooks/shop", url);
  let next = 0;
  let accepted = 0;
  let other = 0;
  const one = (webhook: { body: string; signature: string }) =>
    new Promise<number>((done, fail) => {
      const req = request(
        target,
        {
          method: "POST",
          agent,
          headers: {
            "content-type": "application/json",
            "content-length": Buffer.byteLength(webhook.body),
            [BENCH_SIGNATURE_HEADER]: webhook.signature,
          },
        },
        (res) => {
          res.resume();
          res.on("end", () => done(res.statusCode ?? 0));
        },
      );
      req.on("error", fail);
      req.end(webhook.body);
    });
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < webhooks.length) {
        const webhook = webhooks[next++];
        if (!webhook) break;
        const status = await one(webhook);
        if (status >= 200 && status < 300) accepted++;
        else other++;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  agent.destroy();
  return { accepted, other, seconds };
}

async function measureSide(
  side: Side,
  options: LocalRunOptions,
  round: number,
  before?: string,
): Promise<SideRound> {
  const runId = `${side}-${round}-${Date.now()}`;
  const warmup = Array.from({ length: WARMUP }, (_, i) => signedWebhook(i, `${runId}-warm`));
  const webhooks = Array.from({ length: options.webhooks }, (_, i) => signedWebhook(i, runId));
  const { child, url } = await startSide(side, before);
  try {
    await post(url, warmup, options.concurrency);
    const pid = child.pid ?? 0;
    const before = rssBytes(pid);
    const cpuBefore = cpuMicros(pid);
    const { accepted, other, seconds } = await post(url, webhooks, options.concurrency);
    const cpuAfter = cpuMicros(pid);
    const after = rssBytes(pid);
    return {
      rate: accepted / seconds,
      accepted,
      other,
      rssGrowth: after - before,
      cpuPerWebhookUs:
        (cpuAfter.user + cpuAfter.system - cpuBefore.user - cpuBefore.system) /
        Math.max(accepted, 1),
      systemPerWebhookUs: (cpuAfter.system - cpuBefore.system) / Math.max(accepted, 1),
    };
  } finally {
    const exited = new Promise((done) => child.once("exit", done));
    child.stdin?.end();
    child.kill("SIGTERM");
    await exited;
  }
}

/**
 * @example const result = await measureLocalRun({ webhooks: 4000, concurrency: 16, rounds: 5 });
 */
export async function measureLocalRun(
  options: LocalRunOptions,
  before: string | undefined = process.env.BENCH_BEFORE,
): Promise<LocalRunResult> {
  const sides: Side[] = before ? ["bare", "local", "before"] : ["bare", "local"];
  if (process.env.BENCH_PIN) pinClient();
  const rounds: Record<Side, SideRound[]> = { local: [], bare: [], before: [] };
  for (let round = 0; round < options.rounds; round++) {
    // Rotate which side goes first, so a machine that slows down over time hurts all alike.
    const order = sides.map((_, index) => sides[(index + round) % sides.length] as Side);
    for (const side of order) rounds[side].push(await measureSide(side, options, round, before));
  }
  const ratiosOf = (side: SideRound[]) =>
    side.map((result, index) => result.rate / (rounds.bare[index]?.rate ?? Number.NaN));
  return {
    options,
    local: rounds.local,
    bare: rounds.bare,
    ratios: ratiosOf(rounds.local),
    ...(before && {
      before: { checkout: before, rounds: rounds.before, ratios: ratiosOf(rounds.before) },
    }),
  };
}

export const minMedian = (values: readonly number[]) => ({
  min: Math.min(...values),
  median: median(values),
});

if (process.argv[1]?.endsWith("local-run.ts")) {
  const webhooks = Number(process.argv[2] ?? 4000);
  const result = await measureLocalRun({
    webhooks,
    concurrency: 16,
    rounds: Number(process.argv[3] ?? 5),
  });
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}
