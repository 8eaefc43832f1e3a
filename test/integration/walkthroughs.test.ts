import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { sourceById } from "../../cli/config";
import { DEVELOPMENT_SECRETS, signingSecret } from "../../devkit/dev-secrets";
import { buildSample } from "../../devkit/samples";
import { sendEvent } from "../../devkit/send-event";
import { parseConfig } from "../../functions/core/config";
import { deliveryTimings } from "../../functions/core/delivery-timings";
import { useTestBridge } from "../support/bridge";

const ROOT = join(import.meta.dirname, "../..");
const run = promisify(execFile);

/**
 * The README's walk-throughs in the order a new user follows them, on the shipped example config:
 * the Quickstart's first message (user 1), then "Stripe in 5 minutes" with its script.
 */
describe("the README walk-throughs on the example config", () => {
  const config = parseConfig(JSON.parse(readFileSync(join(ROOT, "hookline.config.json"), "utf8")));
  const bridge = useTestBridge(config, {
    env: { ...DEVELOPMENT_SECRETS },
    // The example config's own timings, as npm start runs it.
    deliverTimeoutMs: deliveryTimings(config).deliverTimeoutSeconds * 1000,
  });

  /** scripts/stripe-event.mjs as the README runs it, against this bridge's port. */
  const stripeScript = async (...args: string[]) => {
    const { stdout } = await run(
      process.execPath,
      [join(ROOT, "scripts/stripe-event.mjs"), ...args],
      {
        cwd: ROOT,
        env: { PATH: process.env.PATH ?? "", PORT: new URL(bridge.url).port },
      },
    );
    return stdout;
  };

  it("Stripe in 5 minutes after the Quickstart: its own user, so its message is sent, not deferred", async () => {
    // The Quickstart: `npx hookline send github` (user 1's message of the week).
    const github = sourceById(config, "github");
    const first = await sendEvent({
      config,
      source: github,
      secret: await signingSecret(config, github, DEVELOPMENT_SECRETS),
      event: buildSample(config, github),
      baseUrl: bridge.url,
      fetch,
      now: new Date(),
    });
    expect(first.status).toBe(202);

    const id = `evt_walkthrough_${Date.now()}`;
    expect(await stripeScript(id)).toMatch(/^202 .*status: .accepted./s);
    await bridge.queue.idle();
    const received = bridge.simulator?.messages.filter((message) => message.userId === 3) ?? [];
    expect(received.map((message) => message.message)).toEqual([
      expect.stringMatching(
        /^\[b\]Stripe\[\/b\]: a payment of €120\.00 failed on \d{4}-\d\d-\d\d\.$/,
      ),
    ]);

    // "Run it again with the same id": a duplicate; with another type: ignored.
    expect(await stripeScript(id)).toMatch(/^200 .*status: 'duplicate'/s);
    expect(await stripeScript(`${id}_b`, "customer.created")).toMatch(/^200 .*status: 'ignored'/s);
  });
});
