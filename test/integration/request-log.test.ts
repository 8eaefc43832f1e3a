import { describe, expect, it } from "vitest";
import { postWebhook, TEST_SECRETS, testConfig, useTestBridge } from "../support/bridge";
import { githubExamples, githubRequest } from "../support/signers";

describe("the local run's request log, fed by the local server", () => {
  const bridge = useTestBridge(testConfig());

  it("records an accepted webhook with its event name, then its message's outcome", async () => {
    const payload = { ...githubExamples("issues", "opened")[0], sender: { id: 21031067 } };
    const request = await githubRequest(TEST_SECRETS.GITHUB_SECRET, "issues", payload);
    expect((await postWebhook(bridge, "github", request)).status).toBe(202);
    await bridge.queue.idle();
    const delivery = request.headers["x-github-delivery"];
    const entry = bridge.requestLog.recent().find((candidate) => candidate.eventId === delivery);
    expect(entry).toMatchObject({
      method: "POST",
      path: "/webhooks/github",
      sourceId: "github",
      status: 202,
      answer: { status: "accepted" },
      eventName: "issues.opened",
      messages: 1,
    });
    expect(entry?.outcomes).toEqual([
      expect.objectContaining({ jobId: `github:${delivery}:0`, outcome: "sent", userId: 7 }),
    ]);
  });

  it("records rejected requests with their reasons, and not health checks", async () => {
    const forged = await githubRequest("not the secret", "issues", { action: "opened" });
    expect((await postWebhook(bridge, "github", forged)).status).toBe(401);
    expect((await postWebhook(bridge, "nowhere", forged)).status).toBe(404);
    await fetch(`${bridge.url}/health`);
    const [missing, invalid] = bridge.requestLog.recent(2);
    expect(missing).toMatchObject({
      status: 404,
      sourceId: "nowhere",
      answer: { error: "unknown_source" },
    });
    expect(invalid).toMatchObject({
      status: 401,
      answer: {
        error: "invalid_signature",
        message: "X-Hub-Signature-256 does not match any configured secret",
      },
    });
    expect(bridge.requestLog.recent().some((entry) => entry.path === "/health")).toBe(false);
  });
});
