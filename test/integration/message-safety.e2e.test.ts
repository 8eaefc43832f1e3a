import { createHmac, randomUUID } from "node:crypto";
import { decodeHTML } from "entities";
import { describe, expect, it } from "vitest";
import { postWebhook, TEST_SECRETS, testConfig, useTestBridge } from "../support/bridge";

/**
 * What reaches Bitrix24 when a sender is hostile: through the local server, ingest, the queue
 * and deliver, to the simulator. Every route here is the `shop` (generic HMAC) source's.
 */
const routes = [
  {
    source: "shop",
    events: ["text"],
    userId: "{{ payload.userId }}",
    message: "{{ payload.text }}",
  },
  {
    source: "shop",
    events: ["joined"],
    userId: "{{ payload.userId }}",
    message: "{{ payload.a }}{{ payload.b }}\n{{ payload.c }}>",
  },
  {
    source: "shop",
    events: ["link"],
    userId: "{{ payload.userId }}",
    message: "Open it",
    keyboard: [{ TEXT: "Open", LINK: "{{ payload.url }}" }],
  },
];

let nextUser = 5_000;

function shopRequest(payload: Record<string, unknown>) {
  const body = JSON.stringify({ id: randomUUID(), ...payload });
  const signature = createHmac("sha256", TEST_SECRETS.SHOP_SECRET).update(body).digest("hex");
  return {
    headers: { "content-type": "application/json", "x-shop-signature": `sha256=${signature}` },
    body,
  };
}

describe("message safety end to end (what the portal receives)", () => {
  const bridge = useTestBridge(testConfig({ routes }));

  async function deliver(event: string, payload: Record<string, unknown>) {
    const userId = nextUser++;
    const answer = await postWebhook(bridge, "shop", shopRequest({ event, userId, ...payload }));
    await bridge.queue.idle();
    return { answer, received: bridge.sentTo(userId) };
  }

  it("sends no HTML entity that decodes to markup, once or twice (item 4)", async () => {
    const text =
      "&#91;USER=1&#93;boss&#91;/USER&#93; &lbrack;url=https://evil.example&rbrack;bank&lbrack;/url&rbrack; &#x5B;b&#x5D;x &amp;#91;b&amp;#93; &gt;&gt;q";
    const { received } = await deliver("text", { text });
    expect(received).toHaveLength(1);
    const sent = received[0]?.message ?? "";
    for (const decoded of [sent, decodeHTML(sent), decodeHTML(decodeHTML(sent))]) {
      expect(decoded).not.toMatch(/[[\]]/);
      expect(decoded).not.toContain(">>");
    }
  });

  it("lets no two values join into a separator or a quote (item 5)", async () => {
    const { received } = await deliver("joined", { a: "---", b: "---", c: "x\n>" });
    expect(received).toHaveLength(1);
    const sent = received[0]?.message ?? "";
    expect(sent).not.toMatch(/-{4}/);
    expect(sent).not.toContain(">>");
  });

  it("sends links as parsed, normalised URLs and refuses ambiguous ones (item 6)", async () => {
    const good = await deliver("link", { url: "HTTPS://Example.COM/a/../b?x=1&y=2" });
    expect(good.received[0]?.keyboard).toEqual([
      { TEXT: "Open", LINK: "https://example.com/b?x=1&y=2" },
    ]);

    for (const url of [
      " https://x.example",
      "https://x.example\n",
      "https://evil.example\\@good.example",
    ]) {
      const bad = await deliver("link", { url });
      expect(bad.answer).toMatchObject({ status: 202, body: { messages: 0, failed: 1 } });
      expect(bad.received).toEqual([]);
    }
  });
});
