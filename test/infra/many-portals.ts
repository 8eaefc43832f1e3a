/**
 * A generated config the size of a vendor whose Bitrix24 app is installed in many portals
 * (docs/scale.md): `portals` portals (standard plans, 2 messages/s each, a webhook URL each),
 * `sources` senders (HMAC, a signing secret each) and one route per portal, spread over the
 * sources. Every secret is an `env:` reference, as the README tells.
 */
export function manyPortalsConfig({ portals = 1000, sources = 100 } = {}) {
  const pad = (n: number) => String(n).padStart(4, "0");
  return {
    sources: Array.from({ length: sources }, (_, s) => ({
      id: `sender-${pad(s)}`,
      type: "hmac",
      secret: `env:SENDER_${pad(s)}_SECRET`,
      header: "x-signature",
      eventId: { header: "x-event-id" },
      eventName: { path: "type" },
    })),
    portals: Array.from({ length: portals }, (_, p) => ({
      id: `portal-${pad(p)}`,
      webhookUrl: `env:BITRIX_PORTAL_${pad(p)}_URL`,
      openLines: { support: "ab515f5d85a8b844d484f6ea75a2e494" },
      rateLimit: { perSecond: 2, burst: 50 },
    })),
    routes: Array.from({ length: portals }, (_, p) => ({
      source: `sender-${pad(p % sources)}`,
      events: [`order.${pad(p)}.*`],
      userId: "{{ payload.userId }}",
      message: "[b]Orders[/b]: order {{ payload.orderId }} is {{ payload.status }}.",
      to: { portal: `portal-${pad(p)}`, openLine: "support" },
    })),
  };
}
