import { createHmac, randomUUID } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { INGEST_SECRETS, post, startIngestServer } from "../support/ingest-server";
import {
  githubRequest,
  type SignedRequest,
  standardWebhookRequest,
  stripeRequest,
} from "../support/signers";
import { useStarted } from "../support/use-started";

/** A correctly signed request for one of the test config's sources, fresh each time. */
async function signedRequest(source: string, userId: number): Promise<SignedRequest> {
  const text = `fuzz ${randomUUID()}`;
  switch (source) {
    case "github":
      return githubRequest(INGEST_SECRETS.GITHUB_SECRET, "issues", {
        action: "opened",
        issue: {},
        userId,
        text,
      });
    case "stripe":
      return stripeRequest(INGEST_SECRETS.STRIPE_SECRET, {
        id: `evt_${randomUUID()}`,
        type: "invoice.paid",
        data: { object: { metadata: { userId } } },
      });
    case "app":
      return standardWebhookRequest(INGEST_SECRETS.APP_SECRET, {
        type: "order.paid",
        userId,
        text,
      });
    default: {
      const body = JSON.stringify({ event: "order.paid", userId, text });
      const timestamp = Math.floor(Date.now() / 1000);
      const timed = source === "timed";
      const signed = timed ? `${timestamp}.${body}` : body;
      const signature = createHmac("sha256", INGEST_SECRETS.SHOP_SECRET)
        .update(signed)
        .digest("hex");
      return {
        headers: {
          "content-type": "application/json",
          "x-shop-event-id": randomUUID(),
          "x-shop-event": "order.paid",
          ...(timed
            ? { "x-shop-signature": signature, "x-shop-timestamp": String(timestamp) }
            : { "x-shop-signature": `sha256=${signature}` }),
        },
        body,
      };
    }
  }
}

/** What a fuzz run does to a valid request before sending it. */
type Mutation =
  | { kind: "none" }
  | { kind: "path"; path: string }
  | { kind: "drop-header"; index: number }
  | { kind: "set-header"; index: number; value: string }
  | { kind: "add-header"; name: string; value: string }
  | { kind: "flip-byte"; index: number; bit: number }
  | { kind: "truncate"; keep: number }
  | { kind: "append"; extra: string }
  | { kind: "replace-body"; body: Uint8Array }
  | { kind: "other-secret" };

const headerValue = fc.string({ unit: fc.constantFrom(..."abcXYZ019 =,;.:-_/+t%"), maxLength: 40 });
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.constant({ kind: "none" as const }),
  fc.record({
    kind: fc.constant("path" as const),
    path: fc.oneof(
      fc.constantFrom(
        "/webhooks/%",
        "/webhooks/%E0%A4%A",
        "/webhooks/",
        "/webhooks/github/",
        "/webhooks/github/extra",
        "/webhooks/..%2Fhealth",
        "/webhooks/%00",
        "/webhooks/GitHub",
        "//webhooks/github",
        "/health",
        "/",
      ),
      fc
        .string({ unit: fc.constantFrom(..."abc%/.:09-_~é"), maxLength: 20 })
        .map((tail) => `/webhooks/${tail}`),
    ),
  }),
  fc.record({ kind: fc.constant("drop-header" as const), index: fc.nat(10) }),
  fc.record({ kind: fc.constant("set-header" as const), index: fc.nat(10), value: headerValue }),
  fc.record({
    kind: fc.constant("add-header" as const),
    name: fc.constantFrom(
      "x-github-event",
      "stripe-signature",
      "webhook-id",
      "content-type",
      "x-extra",
    ),
    value: headerValue,
  }),
  fc.record({ kind: fc.constant("flip-byte" as const), index: fc.nat(2000), bit: fc.nat(7) }),
  fc.record({ kind: fc.constant("truncate" as const), keep: fc.nat(200) }),
  fc.record({ kind: fc.constant("append" as const), extra: fc.string({ maxLength: 20 }) }),
  fc.record({
    kind: fc.constant("replace-body" as const),
    body: fc.uint8Array({ maxLength: 300 }),
  }),
  fc.constant({ kind: "other-secret" as const }),
);

function mutate(
  source: string,
  request: SignedRequest,
  change: Mutation,
): { path: string; headers: Record<string, string>; body: Buffer } {
  let path = `/webhooks/${source}`;
  const headers = { ...request.headers };
  let body = Buffer.from(request.body);
  const names = Object.keys(headers);
  switch (change.kind) {
    case "path":
      path = change.path;
      break;
    case "drop-header":
      delete headers[names[change.index % names.length] ?? ""];
      break;
    case "set-header":
      headers[names[change.index % names.length] ?? "x-none"] = change.value;
      break;
    case "add-header":
      headers[change.name] = change.value;
      break;
    case "flip-byte": {
      const index = change.index % Math.max(1, body.length);
      body = Buffer.from(body);
      body[index] = (body[index] ?? 0) ^ (1 << change.bit);
      break;
    }
    case "truncate":
      body = body.subarray(0, Math.min(change.keep, body.length - 1));
      break;
    case "append":
      body = Buffer.concat([body, Buffer.from(change.extra)]);
      break;
    case "replace-body":
      body = Buffer.from(change.body);
      break;
    case "other-secret":
      path = `/webhooks/${source === "github" ? "shop" : "github"}`;
      break;
  }
  return { path, headers, body };
}

describe("ingest under fuzzing (random and mutated paths, headers and bodies)", () => {
  const server = useStarted("the ingest server", () => startIngestServer());

  it("never answers 5xx, and writes or queues nothing for what it refuses or ignores", async () => {
    const seen = new Set<number>();
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom("github", "stripe", "app", "shop", "timed"),
        fc.integer({ min: 1, max: 1_000_000 }),
        mutation,
        async (source, userId, change) => {
          const request = mutate(source, await signedRequest(source, userId), change);
          const items = await server.itemCount();
          const queued = server.queued.length;

          const answer = await post(server, request.path, request.headers, request.body);
          seen.add(answer.status);
          expect(answer.status).toBeLessThan(500);
          const refused = answer.status >= 400 || answer.body.status === "ignored";
          if (refused) {
            expect(await server.itemCount()).toBe(items);
            expect(server.queued.length).toBe(queued);
          }
          if (change.kind === "none") expect(answer.status).toBe(202);
        },
      ),
      { numRuns: 300 },
    );
    // The fuzzing reached both sides: accepted requests and refusals.
    expect(seen.has(202)).toBe(true);
    expect([...seen].some((status) => status >= 400)).toBe(true);
  });
});
