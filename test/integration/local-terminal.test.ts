import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { Io } from "../../cli/output";
import { runCli } from "../../cli/program";
import { runStatePath } from "../../devkit/run-state";
import { collectOutput } from "../support/child-output";

const ROOT = join(import.meta.dirname, "../..");
const CONFIG = join(ROOT, "hookline.config.json");

/** bin/local.ts in a fresh directory (so its state file is its own), on a free port. */
function startLocal(args: string[] = []) {
  const cwd = mkdtempSync(join(tmpdir(), "hookline-terminal-"));
  const env = Object.fromEntries(
    Object.entries(process.env).filter(
      ([name]) =>
        !/_WEBHOOK_SECRET$/.test(name) &&
        name !== "AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED" &&
        name !== "PORT",
    ),
  );
  const child: ChildProcess = spawn(
    join(ROOT, "node_modules/.bin/tsx"),
    [join(ROOT, "bin/local.ts"), "--port", "0", "--config", CONFIG, ...args],
    { cwd, env, stdio: ["ignore", "pipe", "pipe"] },
  );
  const output = collectOutput(child);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return {
    cwd,
    child,
    exited,
    output,
    waitFor: async (pattern: RegExp, timeoutMs = 30_000) => {
      const deadline = Date.now() + timeoutMs;
      while (!pattern.test(output().stdout)) {
        const { stdout, stderr } = output();
        if (Date.now() > deadline || child.exitCode !== null)
          throw new Error(`no ${pattern} in:\n${stdout}\n${stderr}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
  };
}

function cliIo(cwd: string): Io {
  return {
    stdout: { write: () => true },
    stderr: { write: () => true },
    env: {},
    cwd,
    fetch,
    now: () => new Date(),
  };
}

describe("the terminal of npm start: one line per request", () => {
  it("prints one readable line per request and per outcome, no JSON, no SDK warning; the CLI finds it", async () => {
    const local = startLocal();
    try {
      await local.waitFor(/listening on http/);
      // The CLI finds this run through the state file in its directory, and signs as it checks.
      expect(await runCli(["send", "github", "--config", CONFIG], cliIo(local.cwd))).toBe(0);
      const url = /listening on (http\S+)/.exec(local.output().stdout)?.[1];
      await fetch(`${url}/webhooks/github`, { method: "POST", body: "{}" });
      await fetch(`${url}/webhooks/nowhere`, { method: "POST", body: "{}" });

      await local.waitFor(/↳ sent +github issues\.opened/);
      await local.waitFor(/404 unknown_source nowhere/);
      const { stdout, stderr } = local.output();
      expect(stdout).toMatch(
        /\d\d:\d\d:\d\d 202 accepted {2}github issues\.opened id \S+ {2}1 message queued/,
      );
      expect(stdout).toContain("401 invalid_signature github  missing X-Hub-Signature-256 header");
      expect(stdout).not.toMatch(/^\{/m);
      expect(stderr).not.toContain("NodeVersionSupportWarning");
      expect(existsSync(runStatePath(local.cwd))).toBe(true);
    } finally {
      local.child.kill("SIGTERM");
      await local.exited;
    }
    expect(existsSync(runStatePath(local.cwd))).toBe(false);
  });

  it("prints Powertools JSON logs instead with --json-logs", async () => {
    const local = startLocal(["--json-logs"]);
    try {
      await local.waitFor(/listening on http/);
      expect(await runCli(["send", "github", "--config", CONFIG], cliIo(local.cwd))).toBe(0);
      await local.waitFor(/"message":"webhook accepted"/);
      expect(local.output().stdout).not.toMatch(/202 accepted {2}github/);
    } finally {
      local.child.kill("SIGTERM");
      await local.exited;
    }
  });
});
