import { createHmac } from "node:crypto";
import { sign } from "@octokit/webhooks-methods";
import { Webhook } from "standardwebhooks";
import Stripe from "stripe";
import { describe, expect, it } from "vitest";
import { type SourceConfig, sourceSchema } from "../../../functions/core/config";
import { HooklineError } from "../../../functions/core/errors";
import { type RawRequest, verifyEvent } from "../../../functions/core/sources";
import { hmacSource } from "../../support/config-fixtures";

const now = new Date("2024-05-01T12:00:00Z");
const nowSeconds = now.getTime() / 1000;
const secrets = {
  github: "gh-secret-value-123",
  stripe: "whsec_stripe_secret_value_456",
  "standard-webhooks": "whsec_c3RhbmRhcmQgd2ViaG9va3Mgc2VjcmV0IHZhbHVl",
  hmac: "hmac-secret-value-789",
} as const;
// A recognisable value inside every payload, to prove no error message echoes the body.
const marker = "PAYLOAD-MARKER-4f1c";
const body = JSON.stringify({
  id: "evt_1",
  type: "thing.happened",
  action: "opened",
  number: 1,
  pull_request: {},
  ref: marker,
});

interface Case {
  source: SourceConfig;
  request: { headers: Record<string, string | undefined>; body: Buffer };
  expected: { id: string; name: string };
}

async function cases(): Promise<Case[]> {
  const standard = new Webhook(secrets["standard-webhooks"]);
  return [
    {
      source: sourceSchema.parse({ id: "gh", type: "github", secret: "env:A" }),
      request: {
        headers: {
          "x-hub-signature-256": await sign(secrets.github, body),
          "x-github-event": "pull_request",
          "x-github-delivery": "guid-1",
        },
        body: Buffer.from(body),
      },
      expected: { id: "guid-1", name: "pull_request.opened" },
    },
    {
      source: sourceSchema.parse({ id: "st", type: "stripe", secret: "env:B" }),
      request: {
        headers: {
          "stripe-signature": Stripe.webhooks.generateTestHeaderString({
            payload: body,
            secret: secrets.stripe,
            timestamp: nowSeconds,
          }),
        },
        body: Buffer.from(body),
      },
      expected: { id: "evt_1", name: "thing.happened" },
    },
    {
      source: sourceSchema.parse({ id: "sw", type: "standard-webhooks", secret: "env:C" }),
      request: {
        headers: {
          "webhook-id": "msg_1",
          "webhook-timestamp": String(nowSeconds),
          "webhook-signature": standard.sign("msg_1", now, body),
        },
        body: Buffer.from(body),
      },
      expected: { id: "msg_1", name: "thing.happened" },
    },
    {
      source: sourceSchema.parse(hmacSource("hm", "x-sig", { eventName: { path: "type" } })),
      request: {
        headers: { "x-sig": createHmac("sha256", secrets.hmac).update(body).digest("hex") },
        body: Buffer.from(body),
      },
      expected: { id: "evt_1", name: "thing.happened" },
    },
  ];
}

const secretOf = (source: SourceConfig) => secrets[source.type];

describe("verifyEvent", () => {
  it("dispatches each source type to its scheme", async () => {
    for (const { source, request, expected } of await cases()) {
      const verified = await verifyEvent(source, [secretOf(source)], request, now);
      expect({ type: source.type, id: verified.id, name: verified.name }).toEqual({
        type: source.type,
        ...expected,
      });
      expect(verified.payload).toEqual(JSON.parse(body));
    }
  });

  it("rejects each scheme's request under another scheme's secret", async () => {
    for (const { source, request } of await cases()) {
      const foreign = Object.values(secrets).filter((secret) => secret !== secretOf(source));
      // None of the others is base64 after whsec_: a Standard Webhooks source refuses it as ours.
      await expect(verifyEvent(source, foreign, request, now)).rejects.toMatchObject({
        statusCode: source.type === "standard-webhooks" ? 500 : 401,
      });
      // A well-formed secret of its own kind that is not the signer's: a signature failure.
      const another = `whsec_${Buffer.from("another sender's key").toString("base64")}`;
      await expect(verifyEvent(source, [another], request, now)).rejects.toMatchObject({
        statusCode: 401,
      });
    }
  });

  it("never puts secrets, signatures or the payload in error messages", async () => {
    for (const { source, request } of await cases()) {
      const signatures = Object.values(request.headers).filter(
        (value): value is string => value !== undefined && value.length > 20,
      );
      const failures: RawRequest[] = [
        { ...request, body: Buffer.from(body.replace("opened", "closed")) },
        { ...request, headers: {} },
      ];
      for (const failing of failures) {
        const error = await verifyEvent(
          source,
          [secretOf(source), "whsec_other"],
          failing,
          now,
        ).then(
          () => undefined,
          (caught: unknown) => caught,
        );
        expect(error).toBeInstanceOf(HooklineError);
        const message = (error as Error).message;
        for (const forbidden of [...Object.values(secrets), ...signatures, marker]) {
          expect(message).not.toContain(forbidden);
        }
      }
    }
  });
});
