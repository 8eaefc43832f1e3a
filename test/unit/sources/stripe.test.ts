import Stripe from "stripe";
import { describe, expect, it } from "vitest";
import { sourceSchema } from "../../../functions/core/config";
import { BadRequestError, InvalidSignatureError } from "../../../functions/core/errors";
import { verifyEvent } from "../../../functions/core/sources";
import { expectTimestampWindow } from "../../support/signature-checks";

const SECRET = "whsec_test_8a7f6e5d4c3b2a1908f7e6d5c4b3a291";
const OLD_SECRET = "whsec_test_previous_0000000000000000000000";
const source = sourceSchema.parse({ id: "stripe", type: "stripe", secret: "env:STRIPE_SECRET" });
const now = new Date("2024-05-01T12:00:00Z");
const nowSeconds = now.getTime() / 1000;
const webhooks = Stripe.webhooks;

const event = {
  id: "evt_1PAbCdEfGhIjKlMn",
  object: "event",
  api_version: "2024-04-10",
  created: nowSeconds - 2,
  type: "invoice.payment_failed",
  livemode: false,
  data: { object: { id: "in_1PAbCd", object: "invoice", customer: "cus_Q1", amount_due: 4200 } },
};
const body = JSON.stringify(event, null, 2);

/** A request signed by the stripe SDK's own test signer. */
function stripeRequest(
  payload: string,
  options: { secret?: string; timestamp?: number } = {},
): { headers: Record<string, string>; body: Buffer } {
  const header = webhooks.generateTestHeaderString({
    payload,
    secret: options.secret ?? SECRET,
    timestamp: options.timestamp ?? nowSeconds - 10,
  });
  return { headers: { "stripe-signature": header }, body: Buffer.from(payload) };
}

const verifyStripe = (
  request: { headers: Record<string, string | undefined>; body: Buffer },
  secrets: readonly string[] = [SECRET],
  config = source,
) => verifyEvent(config, secrets, request, now);

/** What the stripe SDK itself decides for the same inputs and clock. */
function sdkAccepts(request: { headers: Record<string, string>; body: Buffer }): boolean {
  try {
    webhooks.constructEvent(
      request.body,
      request.headers["stripe-signature"] ?? "",
      SECRET,
      300,
      undefined,
      now.getTime(),
    );
    return true;
  } catch {
    return false;
  }
}

const ourAccepts = (request: { headers: Record<string, string>; body: Buffer }) =>
  verifyStripe(request).then(
    () => true,
    () => false,
  );

describe("stripe", () => {
  it("verifies an event signed by stripe.webhooks.generateTestHeaderString", async () => {
    await expect(verifyStripe(stripeRequest(body))).resolves.toEqual({
      id: "evt_1PAbCdEfGhIjKlMn",
      name: "invoice.payment_failed",
      payload: event,
    });
  });

  it("agrees with stripe.webhooks.constructEvent on the same inputs", async () => {
    const tampered = stripeRequest(body);
    const cases = {
      valid: stripeRequest(body),
      "wrong secret": stripeRequest(body, { secret: "whsec_wrong" }),
      tampered: { ...tampered, body: Buffer.from(body.replace("4200", "4201")) },
      "just inside tolerance": stripeRequest(body, { timestamp: nowSeconds - 300 }),
      stale: stripeRequest(body, { timestamp: nowSeconds - 301 }),
    };
    for (const [name, request] of Object.entries(cases)) {
      expect({ name, accepted: await ourAccepts(request) }).toEqual({
        name,
        accepted: sdkAccepts(request),
      });
    }
    // The table is not trivially "all rejected": both sides accept the valid ones.
    expect(await ourAccepts(cases.valid)).toBe(true);
    expect(await ourAccepts(cases["just inside tolerance"])).toBe(true);
  });

  it("accepts the header when any v1 matches and ignores other schemes", async () => {
    const signed = stripeRequest(body);
    const [timestamp, v1] = (signed.headers["stripe-signature"] ?? "").split(",");
    const bogus = "v1=".padEnd(67, "0");
    const request = {
      ...signed,
      headers: { "stripe-signature": `${timestamp},v0=abc,${bogus},${v1}` },
    };
    expect(sdkAccepts(request)).toBe(true);
    await expect(verifyStripe(request)).resolves.toMatchObject({ id: event.id });
    const onlyBogus = { ...signed, headers: { "stripe-signature": `${timestamp},${bogus}` } };
    await expect(verifyStripe(onlyBogus)).rejects.toThrow(InvalidSignatureError);
  });

  it("accepts any of several secrets (rotation)", async () => {
    const request = stripeRequest(body);
    await expect(verifyStripe(request, [OLD_SECRET, SECRET])).resolves.toMatchObject({
      id: event.id,
    });
    await expect(verifyStripe(request, [OLD_SECRET])).rejects.toThrow(InvalidSignatureError);
  });

  it("rejects stale and future timestamps outside the configured tolerance", async () => {
    // Stripe's SDK only rejects old ones; a timestamp far ahead is as suspicious.
    await expectTimestampWindow(
      (timestamp) => verifyStripe(stripeRequest(body, { timestamp })),
      nowSeconds,
    );
    await expect(
      verifyStripe(stripeRequest(body, { timestamp: nowSeconds + 300 })),
    ).resolves.toMatchObject({ id: event.id });

    const strict = sourceSchema.parse({ ...source, secret: "env:S", toleranceSeconds: 60 });
    const request = stripeRequest(body, { timestamp: nowSeconds - 61 });
    await expect(verifyStripe(request, [SECRET], strict)).rejects.toThrow(InvalidSignatureError);
  });

  it("refuses a stale capture with a fresh t= added before or after: the time checked is the time signed", async () => {
    const stale = stripeRequest(body, { timestamp: nowSeconds - 3600 });
    const header = stale.headers["stripe-signature"] ?? "";
    const fresh = `t=${nowSeconds}`;
    for (const replayed of [`${fresh},${header}`, `${header},${fresh}`, `${fresh} , ${header}`]) {
      const request = { ...stale, headers: { "stripe-signature": replayed } };
      expect({ replayed, sdk: sdkAccepts(request) }).toEqual({ replayed, sdk: false });
      await expect(verifyStripe(request)).rejects.toThrow(InvalidSignatureError);
    }
  });

  it.each([
    ["missing header", undefined],
    ["no timestamp", "v1=abcdef"],
    ["no v1", `t=${nowSeconds}`],
    ["non-numeric timestamp", "t=soon,v1=abcdef"],
  ])("rejects a malformed Stripe-Signature (%s)", async (_, header) => {
    const request = { headers: { "stripe-signature": header }, body: Buffer.from(body) };
    await expect(verifyStripe(request)).rejects.toThrow(InvalidSignatureError);
  });

  it("rejects a validly signed body that is not JSON or lacks id/type as a bad request", async () => {
    const bodies = [
      "{not json",
      "[]",
      JSON.stringify({ ...event, id: undefined }),
      JSON.stringify({ ...event, type: 42 }),
    ];
    for (const payload of bodies) {
      await expect(verifyStripe(stripeRequest(payload))).rejects.toThrow(BadRequestError);
    }
  });
});
