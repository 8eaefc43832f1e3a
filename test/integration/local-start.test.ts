import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sign } from "@octokit/webhooks-methods";
import { describe, expect, it } from "vitest";
import { collectOutput } from "../support/child-output";

const ROOT = join(import.meta.dirname, "../..");

interface ExampleConfig {
  bitrix: { openLineCode?: string };
  routes: Record<string, unknown>[];
}
const EXAMPLE = join(ROOT, "hookline.config.json");

/**
 * `npm start -- ...args` as a user runs it, in the repository, with a state directory of its own
 * (so the user's own run's .hookline/local.json stays theirs); `listening` resolves once its
 * start-up summary is printed to its last line (the CLI line, written after the run file), or
 * rejects when it exits. A pipe may carry the summary in several chunks.
 */
function npmStart(args: string[], env: Record<string, string> = {}) {
  const stateDir = mkdtempSync(join(tmpdir(), "hookline-state-"));
  const child = spawn("npm", ["start", "--", "--port", "0", ...args], {
    cwd: ROOT,
    env: { ...withoutSecrets(process.env), HOOKLINE_STATE_DIR: stateDir, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output = collectOutput(child);
  const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
  const listening = new Promise<void>((resolve, reject) => {
    const timer = setInterval(() => {
      if (/^ {2}CLI: /m.test(output().stdout)) {
        clearInterval(timer);
        resolve();
      }
    }, 50);
    void exited.then((code) => {
      clearInterval(timer);
      reject(new Error(`exited with ${code}: ${output().stderr}`));
    });
  });
  listening.catch(() => {});
  return { child, exited, listening, stateDir, output };
}

/** The repository's own state file, as the user's `npm start` left it (or undefined). */
const usersRunState = (): string | undefined => {
  const path = join(ROOT, ".hookline", "local.json");
  return existsSync(path) ? readFileSync(path, "utf8") : undefined;
};

/** The example config's variable names, unset, so its development values are what it uses. */
function withoutSecrets(env: NodeJS.ProcessEnv): Record<string, string> {
  const names = ["GITHUB_WEBHOOK_SECRET", "STRIPE_WEBHOOK_SECRET", "APP_WEBHOOK_SECRET"];
  return Object.fromEntries(
    Object.entries(env).filter(
      (entry): entry is [string, string] =>
        entry[1] !== undefined && !names.includes(entry[0]) && entry[0] !== "PORT",
    ),
  );
}

/** Every process below `pid`, found through `ps`. */
function descendants(pid: number): number[] {
  const table = execFileSync("ps", ["-e", "-o", "pid=,ppid="], { encoding: "utf8" })
    .trim()
    .split("\n")
    .map((line) => line.trim().split(/\s+/).map(Number) as [number, number]);
  const found: number[] = [];
  const visit = (parent: number) => {
    for (const [child, ppid] of table) {
      if (ppid === parent) {
        found.push(child);
        visit(child);
      }
    }
  };
  visit(pid);
  return found;
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function waitUntil(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return check();
}

/** SIGTERM, so the run cleans up after itself; SIGKILL for whatever is left after 5 s. */
async function stopAll(run: { child: ChildProcess }, pids: number[]): Promise<void> {
  const all = [run.child.pid ?? 0, ...pids].filter((pid) => pid > 0);
  if (run.child.pid && alive(run.child.pid)) process.kill(run.child.pid, "SIGTERM");
  await waitUntil(() => all.every((pid) => !alive(pid)), 5_000);
  for (const pid of all) if (alive(pid)) process.kill(pid, "SIGKILL");
}

describe("npm start", () => {
  it("stops every process it started on SIGTERM to npm (item 15)", async () => {
    const run = npmStart([]);
    await run.listening;
    const pid = run.child.pid ?? 0;
    const children = descendants(pid);
    expect(children.length).toBeGreaterThan(0);
    try {
      process.kill(pid, "SIGTERM");
      expect(await waitUntil(() => children.every((child) => !alive(child)), 10_000)).toBe(true);
    } finally {
      await stopAll(run, children);
    }
  });

  it("leaves the user's .hookline/local.json alone and keeps its state in HOOKLINE_STATE_DIR", async () => {
    const before = usersRunState();
    const run = npmStart([]);
    try {
      await run.listening;
      // It writes the file just after "listening on".
      expect(await waitUntil(() => existsSync(join(run.stateDir, "local.json")), 60_000)).toBe(
        true,
      );
      const state = JSON.parse(readFileSync(join(run.stateDir, "local.json"), "utf8"));
      expect(state.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(usersRunState()).toBe(before);
    } finally {
      await stopAll(run, descendants(run.child.pid ?? 0));
    }
    expect(existsSync(join(run.stateDir, "local.json"))).toBe(false);
    expect(usersRunState()).toBe(before);
  });

  it("prints the development secrets it uses for the example config (item 11)", async () => {
    const run = npmStart(["--config", EXAMPLE]);
    try {
      await run.listening;
      expect(run.output().stderr).toContain("GITHUB_WEBHOOK_SECRET=dev-github-secret");
    } finally {
      await stopAll(run, descendants(run.child.pid ?? 0));
    }
  });

  it("prints a signed start-up curl only for the development secret, never a real one", async () => {
    const real = npmStart([], { GITHUB_WEBHOOK_SECRET: "a-real-github-secret" });
    try {
      await real.listening;
      expect(real.output().stdout).toContain("webhook:   POST");
      expect(real.output().stdout).not.toContain("x-hub-signature-256");
    } finally {
      await stopAll(real, descendants(real.child.pid ?? 0));
    }
    const development = npmStart([]);
    try {
      await development.listening;
      // The example follows the summary, perhaps in a later chunk.
      expect(
        await waitUntil(() => /x-hub-signature-256: /.test(development.output().stdout), 60_000),
      ).toBe(true);
      const stdout = development.output().stdout;
      const body = /--data '([^']+)'/.exec(stdout)?.[1] ?? "";
      const signature = /x-hub-signature-256: (sha256=[0-9a-f]+)/.exec(stdout)?.[1];
      expect(signature).toBe(await sign("dev-github-secret", body));
    } finally {
      await stopAll(development, descendants(development.child.pid ?? 0));
    }
  });

  it("does not fall back to development secrets for another config (item 11)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hookline-start-"));
    const config = join(dir, "mine.json");
    writeFileSync(config, readFileSync(EXAMPLE));
    const run = npmStart(["--config", config]);
    expect(await run.exited).toBe(1);
    const { stderr } = run.output();
    expect(stderr).toContain("GITHUB_WEBHOOK_SECRET");
    expect(stderr).toContain("not set");
    expect(stderr).not.toContain("dev-github-secret");

    const withDev = npmStart(["--config", config, "--dev"]);
    try {
      await withDev.listening;
    } finally {
      await stopAll(withDev, descendants(withDev.child.pid ?? 0));
    }
  });

  it("names the --config file it cannot read, and does not advise HOOKLINE_CONFIG then", async () => {
    const missing = join(mkdtempSync(join(tmpdir(), "hookline-start-")), "missing.json");
    const run = npmStart(["--config", missing]);
    expect(await run.exited).toBe(1);
    const { stderr } = run.output();
    expect(stderr).toContain(
      `cannot read config file ${missing} (no such file; check the --config path)`,
    );
    expect(stderr).not.toContain("HOOKLINE_CONFIG");
  });

  it("does not suggest --dev for a missing secret when --dev was given", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hookline-start-"));
    const config = join(dir, "own-secret.json");
    const example = JSON.parse(readFileSync(EXAMPLE, "utf8")) as { sources: { secret: string }[] };
    const [first] = example.sources;
    if (first) first.secret = "env:MY_OWN_WEBHOOK_SECRET_XYZ";
    writeFileSync(config, JSON.stringify(example));
    const run = npmStart(["--config", config, "--dev"]);
    expect(await run.exited).toBe(1);
    const { stderr } = run.output();
    expect(stderr).toContain("MY_OWN_WEBHOOK_SECRET_XYZ not set");
    expect(stderr).toContain("hookline has no development value for it: set it");
    expect(stderr).not.toContain("--dev");
  });

  it("checks secretsmanager: references at start and names the one it cannot read", async () => {
    const unreachable = createServer();
    await new Promise<void>((resolve) => unreachable.listen(0, "127.0.0.1", resolve));
    const port = (unreachable.address() as { port: number }).port;
    await new Promise<void>((resolve) => unreachable.close(() => resolve()));
    const dir = mkdtempSync(join(tmpdir(), "hookline-start-"));
    const config = join(dir, "aws-secret.json");
    const example = JSON.parse(readFileSync(EXAMPLE, "utf8")) as {
      sources: { id: string; secret: string | string[] }[];
    };
    const stripe = example.sources.findIndex((source) => source.id === "stripe");
    const stripeSource = example.sources[stripe];
    if (stripeSource)
      stripeSource.secret = ["env:STRIPE_WEBHOOK_SECRET", "secretsmanager:stripe-previous"];
    writeFileSync(config, JSON.stringify(example));
    const run = npmStart(["--config", config, "--dev"], {
      AWS_REGION: "eu-central-1",
      AWS_ACCESS_KEY_ID: "test",
      AWS_SECRET_ACCESS_KEY: "test",
      AWS_MAX_ATTEMPTS: "1",
      AWS_ENDPOINT_URL_SECRETS_MANAGER: `http://127.0.0.1:${port}`,
    });
    const started = await run.listening.then(
      () => "listening",
      () => "exited",
    );
    try {
      expect(started).toBe("exited");
      expect(await run.exited).toBe(1);
      const { stderr } = run.output();
      expect(stderr).toContain(
        `hookline: configuration error: sources[${stripe}].secret[1]: secretsmanager:stripe-previous cannot be read (`,
      );
      expect(stderr).toContain("sign in to AWS, or use an env: reference for the local run");
      expect(stderr).not.toMatch(/\n\s+at /);
    } finally {
      await stopAll(run, descendants(run.child.pid ?? 0));
    }
  });

  it("warns about route event names the sender never sends (item 2)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hookline-start-"));
    const config = join(dir, "typo.json");
    const example = JSON.parse(readFileSync(EXAMPLE, "utf8")) as { routes: { events: string[] }[] };
    const stripeRoute = example.routes.findIndex((route) =>
      route.events.includes("invoice.payment_failed"),
    );
    expect(stripeRoute).toBeGreaterThanOrEqual(0);
    example.routes[stripeRoute] = {
      ...example.routes[stripeRoute],
      events: ["invoice.payment_faild"],
    };
    writeFileSync(config, JSON.stringify(example));
    const run = npmStart(["--config", config, "--dev"]);
    try {
      await run.listening;
      expect(run.output().stderr).toContain(
        `hookline: warning: routes[${stripeRoute}].events[0]: stripe sends no "invoice.payment_faild" event; did you mean "invoice.payment_failed"?`,
      );
    } finally {
      await stopAll(run, descendants(run.child.pid ?? 0));
    }
  });

  it.each([
    [
      "an unknown filter (item 1)",
      (config: ExampleConfig) => {
        config.routes[1] = { ...config.routes[1], message: '{{ payload.x | mony: "eur" }}' };
      },
      "routes[1].message: undefined filter: mony",
    ],
    [
      "a condition with a syntax error (item 1)",
      (config: ExampleConfig) => {
        config.routes[0] = { ...config.routes[0], condition: "payload.x > " };
      },
      "routes[0].condition: an operator without a value after it",
    ],
    [
      "a missing open line code (item 3)",
      (config: ExampleConfig) => {
        delete config.bitrix.openLineCode;
      },
      "bitrix.openLineCode: required: the 32-character code of the open line",
    ],
  ])("refuses to start with %s, naming the key", async (_name, breakIt, expected) => {
    const dir = mkdtempSync(join(tmpdir(), "hookline-start-"));
    const config = join(dir, "broken.json");
    const example = JSON.parse(readFileSync(EXAMPLE, "utf8")) as ExampleConfig;
    breakIt(example);
    writeFileSync(config, JSON.stringify(example));
    const run = npmStart(["--config", config, "--dev"]);
    expect(await run.exited).toBe(1);
    expect(run.output().stderr).toContain(`hookline: configuration error: ${config}: ${expected}`);
  });

  it("says in one line that the port is taken (item 13)", async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
    const port = (taken.address() as { port: number }).port;
    try {
      const run = npmStart(["--port", String(port)]);
      expect(await run.exited).toBe(1);
      const lines = run.output().stderr.trim().split("\n");
      expect(lines.at(-1)).toBe(
        `hookline: port ${port} on 127.0.0.1 is already in use (stop the other process, or choose another with --port or PORT)`,
      );
      expect(run.output().stderr).not.toContain("EADDRINUSE");
      expect(run.output().stderr).not.toMatch(/\n\s+at /);
    } finally {
      taken.close();
    }
  });
});
