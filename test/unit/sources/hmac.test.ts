import { createHash, createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { sourceSchema } from "../../../functions/core/config";
import { BadRequestError, InvalidSignatureError } from "../../../functions/core/errors";
import { verifyEvent } from "../../../functions/core/sources";
import { hmacSource, shopSource } from "../../support/config-fixtures";

const SECRET = "generic-hmac-secret";
const now = new Date("2024-05-01T12:00:00Z");
const nowSeconds = now.getTime() / 1000;

const payload = {
  event: { kind: "order.shipped" },
  items: [{ id: 90210, sku: "A-1" }],
  delivery: "dlv_7",
};
const body = JSON.stringify(payload);

/** Signs like a typical generic sender: HMAC of the raw body, optionally `<timestamp>.` first. */
function hmacOf(
  text: string,
  options: {
    secret?: string;
    algorithm?: "sha256" | "sha1";
    encoding?: "hex" | "base64";
    timestamp?: number;
  } = {},
): string {
  const mac = createHmac(options.algorithm ?? "sha256", options.secret ?? SECRET);
  if (options.timestamp !== undefined) mac.update(`${options.timestamp}.`);
  return mac.update(text).digest(options.encoding ?? "hex");
}

// Header names in mixed case: a request's headers match them case-insensitively.
const hexSource = sourceSchema.parse(
  shopSource({
    header: "X-Shop-Signature",
    eventId: { path: "items.0.id" },
    eventName: { path: "event.kind" },
  }),
);

const timedSource = sourceSchema.parse(
  hmacSource("timed", "x-signature", {
    algorithm: "sha1",
    encoding: "base64",
    timestampHeader: "X-Timestamp",
    toleranceSeconds: 120,
    eventId: { header: "X-Delivery-Id" },
    eventName: { path: "event.kind" },
  }),
);

const shopRequest = (signature: string | undefined, text = body) => ({
  headers: { "x-shop-signature": signature },
  body: Buffer.from(text),
});

function timedRequest(timestamp: number, options: { secret?: string } = {}) {
  return {
    headers: {
      "x-signature": hmacOf(body, { ...options, algorithm: "sha1", encoding: "base64", timestamp }),
      "x-timestamp": String(timestamp),
      "x-delivery-id": "delivery-123",
    },
    body: Buffer.from(body),
  };
}

describe("generic hmac", () => {
  it("verifies a prefixed hex sha256 signature and reads id and name from JSON paths", async () => {
    const request = shopRequest(`sha256=${hmacOf(body)}`);
    await expect(verifyEvent(hexSource, [SECRET], request, now)).resolves.toEqual({
      id: "90210",
      name: "order.shipped",
      payload,
      contentHash: createHash("sha256").update(body).digest("hex"),
    });
  });

  it("verifies a timestamped base64 sha1 signature and reads the id from a header", async () => {
    const request = timedRequest(nowSeconds - 30);
    await expect(verifyEvent(timedSource, [SECRET], request, now)).resolves.toEqual({
      id: "delivery-123",
      name: "order.shipped",
      payload,
      // The timestamp is signed too, so it is part of what identifies the event.
      contentHash: createHash("sha256")
        .update(`${nowSeconds - 30}.${body}`)
        .digest("hex"),
      // The id header is not signed: a re-signed retry must also repeat the body.
      bodyHash: createHash("sha256").update(body).digest("hex"),
    });
  });

  it("keeps no body hash where the id is signed (a JSON path) or no timestamp re-signs retries", async () => {
    const pathId = sourceSchema.parse({ ...timedSource, eventId: { path: "delivery" } });
    const timed = await verifyEvent(pathId, [SECRET], timedRequest(nowSeconds), now);
    expect(timed).toMatchObject({ id: "dlv_7" });
    const plain = await verifyEvent(
      hexSource,
      [SECRET],
      shopRequest(`sha256=${hmacOf(body)}`),
      now,
    );
    for (const event of [timed, plain]) expect(event).not.toHaveProperty("bodyHash");
  });

  it("rejects a signature made without the timestamp when one is configured", async () => {
    const request = {
      ...timedRequest(nowSeconds),
      headers: {
        ...timedRequest(nowSeconds).headers,
        "x-signature": hmacOf(body, { algorithm: "sha1", encoding: "base64" }),
      },
    };
    await expect(verifyEvent(timedSource, [SECRET], request, now)).rejects.toThrow(
      InvalidSignatureError,
    );
  });

  it("rejects stale, future and missing timestamps", async () => {
    for (const timestamp of [nowSeconds - 121, nowSeconds + 121]) {
      await expect(
        verifyEvent(timedSource, [SECRET], timedRequest(timestamp), now),
      ).rejects.toThrow(InvalidSignatureError);
    }
    const request = timedRequest(nowSeconds);
    const headers = { ...request.headers, "x-timestamp": undefined };
    await expect(verifyEvent(timedSource, [SECRET], { ...request, headers }, now)).rejects.toThrow(
      /missing x-timestamp/,
    );
  });

  it("accepts any of several secrets (rotation)", async () => {
    const request = shopRequest(`sha256=${hmacOf(body, { secret: "new-secret" })}`);
    await expect(
      verifyEvent(hexSource, [SECRET, "new-secret"], request, now),
    ).resolves.toMatchObject({ id: "90210" });
    await expect(verifyEvent(hexSource, [SECRET], request, now)).rejects.toThrow(
      InvalidSignatureError,
    );
  });

  it("rejects a wrong secret, a tampered body, a missing header or a missing prefix", async () => {
    const signature = `sha256=${hmacOf(body)}`;
    const requests = [
      shopRequest(`sha256=${hmacOf(body, { secret: "wrong" })}`),
      shopRequest(signature, body.replace("90210", "90211")),
      shopRequest(undefined),
      shopRequest(hmacOf(body)),
    ];
    for (const request of requests) {
      await expect(verifyEvent(hexSource, [SECRET], request, now)).rejects.toThrow(
        InvalidSignatureError,
      );
    }
  });

  it("never accepts an empty secret (an unset variable)", async () => {
    const request = shopRequest(`sha256=${hmacOf(body, { secret: "" })}`);
    await expect(verifyEvent(hexSource, [""], request, now)).rejects.toThrow(InvalidSignatureError);
  });

  it("rejects a validly signed body without the configured id or name as a bad request", async () => {
    const bodies = [
      JSON.stringify({ ...payload, items: [] }),
      JSON.stringify({ ...payload, items: [{ id: { nested: true } }] }),
      JSON.stringify({ ...payload, event: {} }),
      "not json",
    ];
    for (const text of bodies) {
      const request = shopRequest(`sha256=${hmacOf(text)}`, text);
      await expect(verifyEvent(hexSource, [SECRET], request, now)).rejects.toThrow(BadRequestError);
    }
  });

  it("refuses a numeric id beyond 2^53, which JSON parsing rounds onto another event's id", async () => {
    // 2^53 + 1 parses as 2^53: two events of a sender with 64-bit ids would share one id (and
    // one job id), so the second would be settled as a copy of the first and never sent.
    const ids = ["9007199254740993", "9007199254740992", "1e21", "0.1"];
    for (const id of ids) {
      const text = `{"event":{"kind":"order.shipped"},"items":[{"id":${id}}]}`;
      const request = shopRequest(`sha256=${hmacOf(text)}`, text);
      await expect(verifyEvent(hexSource, [SECRET], request, now)).rejects.toThrow(
        /event id at "items.0.id" is a number JSON cannot carry exactly/,
      );
    }
    const safe = `{"event":{"kind":"order.shipped"},"items":[{"id":9007199254740991}]}`;
    await expect(
      verifyEvent(hexSource, [SECRET], shopRequest(`sha256=${hmacOf(safe)}`, safe), now),
    ).resolves.toMatchObject({ id: "9007199254740991" });
  });

  it("rejects a validly signed request without the configured id header as a bad request", async () => {
    const request = timedRequest(nowSeconds);
    const headers = { ...request.headers, "x-delivery-id": undefined };
    await expect(verifyEvent(timedSource, [SECRET], { ...request, headers }, now)).rejects.toThrow(
      /missing event id header x-delivery-id/,
    );
  });
});
