import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sleep } from "../../functions/core/clock";
import { standardWebhookRequest } from "../support/signers";

/**
 * The weekly digest cycle, black box, through the real `npm start` entry (bin/local.ts) in its
 * own process: a config with a ten-second week, signed webhooks over HTTP, and what the built-in
 * simulator received, read from its own HTTP endpoint.
 */

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const TSX_LOADER = join(ROOT, "node_modules/tsx/dist/loader.mjs");
const SECRET = `whsec_${Buffer.from("npm-start-e2e").toString("base64")}`;

interface SimulatorMessage {
  userId: number;
  message: string;
}

describe("npm start: the weekly digest cycle with a ten-second week", () => {
  let child: ChildProcess;
  let dir: string;
  let url: string;
  let simulator: string;
  let output = "";

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "hookline-start-"));
    const base = JSON.parse(readFileSync(join(ROOT, "hookline.config.json"), "utf8"));
    const config = {
      ...base,
      bitrix: { ...base.bitrix, weekSeconds: 10, weekMarginSeconds: 1 },
      sources: [{ id: "app", type: "standard-webhooks", secret: "env:APP_SECRET" }],
      routes: [
        {
          source: "app",
          events: ["order.*"],
          userId: "{{ payload.data.bitrixUserId }}",
          message: "[b]Orders[/b]: order {{ payload.data.orderId }} is {{ payload.data.status }}.",
        },
      ],
      lookups: {},
    };
    writeFileSync(join(dir, "hookline.config.json"), JSON.stringify(config));
    child = spawn(
      process.execPath,
      ["--import", TSX_LOADER, join(ROOT, "bin/local.ts"), "--port", "0"],
      {
        cwd: dir,
        env: { PATH: process.env.PATH ?? "", APP_SECRET: SECRET },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    child.stdout?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    for (let waited = 0; waited < 30_000 && !/listening on/.test(output); waited += 100) {
      await sleep(100);
    }
    url = /listening on (http:\/\/\S+)/.exec(output)?.[1] ?? "";
    simulator = /built-in simulator at (http:\/\/\S+)/.exec(output)?.[1] ?? "";
    if (!url || !simulator) throw new Error(`npm start did not come up:\n${output}`);
  }, 60_000);

  afterAll(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await exited;
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const post = async (status: string) => {
    const request = standardWebhookRequest(SECRET, {
      type: "order.updated",
      data: { orderId: randomUUID().slice(0, 8), bitrixUserId: 42, status },
    });
    const answer = await fetch(`${url}/webhooks/app`, {
      method: "POST",
      headers: request.headers,
      body: request.body,
    });
    return answer.status;
  };
  const received = async (): Promise<SimulatorMessage[]> =>
    (await (await fetch(`${simulator}/_simulator/messages`)).json()) as SimulatorMessage[];

  it("sends the first event, then the next two as one digest once the week has passed", async () => {
    expect(await post("paid")).toBe(202);
    expect(await post("packed")).toBe(202);
    expect(await post("shipped")).toBe(202);

    let messages = await received();
    for (let waited = 0; waited < 30_000 && messages.length < 2; waited += 250) {
      await sleep(250);
      messages = await received();
    }
    expect(messages.map((message) => message.userId)).toEqual([42, 42]);
    expect(messages[0]?.message).toContain("paid");
    expect(messages[1]?.message).toMatch(/2 updates[\s\S]*packed[\s\S]*shipped/);
    // It warned that a week this short is for simulators and tests only.
    expect(output).toMatch(/weekSeconds/);
  }, 60_000);
});
