import { Webhook } from "standardwebhooks";
import { describe, expect, it, vi } from "vitest";
import { sourceSchema } from "../../../functions/core/config";
import {
  BadRequestError,
  ConfigError,
  InvalidSignatureError,
} from "../../../functions/core/errors";
import { verifyEvent } from "../../../functions/core/sources";
import { expectTimestampWindow } from "../../support/signature-checks";

const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const OTHER_SECRET = "whsec_dGhlIHByZXZpb3VzIHNpZ25pbmcga2V5IQ==";
const source = sourceSchema.parse({
  id: "svix",
  type: "standard-webhooks",
  secret: "env:WEBHOOK_SECRET",
});
const now = new Date("2024-05-01T12:00:00Z");
const nowSeconds = now.getTime() / 1000;

const payload = { type: "invoice.paid", data: { id: "inv_1", customer: { id: 42 } } };
const body = JSON.stringify(payload);

type Request = { headers: Record<string, string | undefined>; body: Buffer };

/** A request signed by the `standardwebhooks` package. */
function signedRequest(
  text: string,
  options: { secret?: string; timestamp?: number; id?: string } = {},
): Request {
  const id = options.id ?? "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W";
  const timestamp = options.timestamp ?? nowSeconds - 5;
  const signature = new Webhook(options.secret ?? SECRET).sign(
    id,
    new Date(timestamp * 1000),
    text,
  );
  return {
    headers: {
      "webhook-id": id,
      "webhook-timestamp": String(timestamp),
      "webhook-signature": signature,
    },
    body: Buffer.from(text),
  };
}

const verifyStandard = (request: Request, secrets: readonly string[] = [SECRET]) =>
  verifyEvent(source, secrets, request, now);

/** What the `standardwebhooks` package decides for the same request at the same time. */
function packageAccepts(request: Request, secret = SECRET): boolean {
  vi.useFakeTimers({ toFake: ["Date"], now });
  try {
    new Webhook(secret).verify(request.body, request.headers as Record<string, string>, {
      jsonParse: false,
    });
    return true;
  } catch {
    return false;
  } finally {
    vi.useRealTimers();
  }
}

describe("standard webhooks", () => {
  it("accepts the specification's test vector", async () => {
    const request = {
      headers: {
        "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "webhook-timestamp": "1614265330",
        "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
      },
      body: Buffer.from('{"test": 2432232314}'),
    };
    const then = new Date(1614265330 * 1000);
    // The signature passes; the vector's body has no `type`, so that is the only complaint.
    await expect(verifyEvent(source, [SECRET], request, then)).rejects.toThrow(/"type"/);
    await expect(verifyEvent(source, [OTHER_SECRET], request, then)).rejects.toThrow(
      InvalidSignatureError,
    );
  });

  it("verifies what the standardwebhooks package signs", async () => {
    await expect(verifyStandard(signedRequest(body))).resolves.toEqual({
      id: "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W",
      name: "invoice.paid",
      payload,
    });
  });

  it("agrees with the standardwebhooks package's verify on the same inputs", async () => {
    const valid = signedRequest(body);
    const cases: Record<string, Request> = {
      valid,
      "other secret": signedRequest(body, { secret: OTHER_SECRET }),
      tampered: { ...valid, body: Buffer.from(body.replace("inv_1", "inv_2")) },
      "id swapped": { ...valid, headers: { ...valid.headers, "webhook-id": "msg_other" } },
      "timestamp swapped": {
        ...valid,
        headers: { ...valid.headers, "webhook-timestamp": String(nowSeconds - 6) },
      },
      "just inside tolerance": signedRequest(body, { timestamp: nowSeconds - 300 }),
      stale: signedRequest(body, { timestamp: nowSeconds - 301 }),
      future: signedRequest(body, { timestamp: nowSeconds + 301 }),
      "several signatures": {
        ...valid,
        headers: {
          ...valid.headers,
          "webhook-signature": `v1a,c29tZSBrZXk= v1,AAAAbm90IGl0 ${valid.headers["webhook-signature"]}`,
        },
      },
    };
    for (const [name, request] of Object.entries(cases)) {
      const ours = await verifyStandard(request).then(
        () => true,
        () => false,
      );
      expect({ name, accepted: ours }).toEqual({ name, accepted: packageAccepts(request) });
    }
    expect(packageAccepts(valid)).toBe(true);
    expect(packageAccepts(cases["several signatures"] as Request)).toBe(true);
  });

  it("accepts any of several secrets (rotation)", async () => {
    const request = signedRequest(body, { secret: OTHER_SECRET });
    await expect(verifyStandard(request, [SECRET, OTHER_SECRET])).resolves.toMatchObject({
      name: "invoice.paid",
    });
  });

  it("rejects stale and future timestamps, in both directions", async () => {
    await expectTimestampWindow(
      (timestamp) => verifyStandard(signedRequest(body, { timestamp })),
      nowSeconds,
    );
    const strict = sourceSchema.parse({ ...source, secret: "env:S", toleranceSeconds: 10 });
    const request = signedRequest(body, { timestamp: nowSeconds - 11 });
    await expect(verifyEvent(strict, [SECRET], request, now)).rejects.toThrow(
      InvalidSignatureError,
    );
  });

  it("refuses a secret that is not base64 after whsec_, as the standardwebhooks package does, instead of keying with what decodes of it", async () => {
    // Node's base64 decoding stops at the first "=": this secret would key the HMAC with one byte.
    const malformed = "whsec_ab=cdefghijklmnopqrstuvwxyz0123456789";
    expect(() => new Webhook(malformed)).toThrow();
    // So a forger who signs with each of the 256 one-byte keys would get one request through.
    const forged = Array.from({ length: 256 }, (_, byte) =>
      signedRequest(body, { secret: `whsec_${Buffer.of(byte).toString("base64")}` }),
    );
    const outcomes = await Promise.allSettled(
      forged.map((request) => verifyStandard(request, [malformed])),
    );
    expect(outcomes.filter((outcome) => outcome.status === "fulfilled")).toHaveLength(0);
    for (const outcome of outcomes) {
      const error = outcome.status === "rejected" ? (outcome.reason as Error) : undefined;
      // Our configuration's fault (a bare 500 to the sender), named without the secret.
      expect(error).toBeInstanceOf(ConfigError);
      expect(error?.message).toContain('"svix"');
      expect(error?.message).not.toContain(malformed.slice(6, 10));
    }
    // A newline after a well-formed secret (stored from a file) is not a malformed one.
    await expect(verifyStandard(signedRequest(body), [`${SECRET}\n`])).resolves.toMatchObject({
      name: "invoice.paid",
    });
  });

  it("ignores signature versions other than v1", async () => {
    const signed = signedRequest(body);
    const base64 = (signed.headers["webhook-signature"] ?? "").slice(3);
    const request = {
      ...signed,
      headers: { ...signed.headers, "webhook-signature": `v2,${base64}` },
    };
    await expect(verifyStandard(request)).rejects.toThrow(InvalidSignatureError);
  });

  it("rejects missing or malformed signature headers as unauthorized", async () => {
    const signed = signedRequest(body);
    for (const [name, value] of [
      ["webhook-signature", undefined],
      ["webhook-timestamp", undefined],
      ["webhook-timestamp", "yesterday"],
    ] as const) {
      const request = { ...signed, headers: { ...signed.headers, [name]: value } };
      await expect(verifyStandard(request)).rejects.toThrow(InvalidSignatureError);
    }
  });

  it("rejects a request without webhook-id as a bad request", async () => {
    const signed = signedRequest(body);
    const request = { ...signed, headers: { ...signed.headers, "webhook-id": undefined } };
    await expect(verifyStandard(request)).rejects.toThrow(BadRequestError);
  });

  it("rejects a validly signed body that is not a JSON object with a type as a bad request", async () => {
    for (const text of [
      "{oops",
      "[]",
      JSON.stringify({ data: {} }),
      JSON.stringify({ type: "" }),
    ]) {
      await expect(verifyStandard(signedRequest(text))).rejects.toThrow(BadRequestError);
    }
  });
});
