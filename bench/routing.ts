/**
 * Routing at 1,000 routes (docs/scale.md): the time `router.route` takes per webhook when every
 * route's condition is checked (the reference: the same routes, each condition prefixed with
 * `true and`, which LiquidJS reads the same but the lookup cannot key) and when routes are
 * looked up by the payload field their condition compares. Interleaved rounds, min and median.
 */
import { parseConfig } from "../functions/core/config";
import { compileRoutes, type EventForRouting } from "../functions/core/routes";
import { manyPortalsConfig } from "../test/infra/many-portals";
import { median } from "./stats";

export interface RoutingFigures {
  routes: number;
  /** µs per webhook, min and median over the rounds. */
  keyed: { min: number; median: number };
  scanned: { min: number; median: number };
  /** One source per portal: the source id alone picks the route. */
  bySource: { min: number; median: number };
}

const pad = (n: number) => String(n).padStart(4, "0");

function tenantRouter(routes: number, wrap: (condition: string) => string) {
  const raw = manyPortalsConfig({ portals: routes, sources: 1 });
  raw.routes.forEach((route, i) => {
    route.events = ["order.*"];
    Object.assign(route, { condition: wrap(`payload.tenant == 'tenant-${pad(i)}'`) });
  });
  return compileRoutes(parseConfig(raw), { checked: true });
}

export function measureRouting(routes = 1000, rounds = 15, perRound = 200): RoutingFigures {
  const middle = Math.floor(routes / 2);
  const payload = { tenant: `tenant-${pad(middle)}`, userId: 7, orderId: 42, status: "paid" };
  const event = (sourceId: string, eventName: string): EventForRouting => ({
    sourceId,
    eventId: "bench",
    eventName,
    receivedAt: new Date(0),
    payload,
  });
  const variants = {
    keyed: [tenantRouter(routes, (c) => c), event("sender-0000", "order.paid")],
    scanned: [tenantRouter(routes, (c) => `true and ${c}`), event("sender-0000", "order.paid")],
    bySource: [
      compileRoutes(parseConfig(manyPortalsConfig({ portals: routes, sources: routes })), {
        checked: true,
      }),
      event(`sender-${pad(middle)}`, `order.${pad(middle)}.paid`),
    ],
  } as const;
  const samples: Record<keyof typeof variants, number[]> = { keyed: [], scanned: [], bySource: [] };
  for (const [router, e] of Object.values(variants)) {
    for (let i = 0; i < 20; i++) {
      if (router.route(e).length !== 1) throw new Error("routing bench: expected one route");
    }
  }
  for (let round = 0; round < rounds; round++) {
    for (const [name, [router, e]] of Object.entries(variants)) {
      const n = name === "scanned" ? Math.max(5, perRound / 20) : perRound;
      const start = process.hrtime.bigint();
      for (let i = 0; i < n; i++) router.route(e);
      samples[name as keyof typeof variants].push(
        Number(process.hrtime.bigint() - start) / 1000 / n,
      );
    }
  }
  const spread = (values: number[]) => ({ min: Math.min(...values), median: median(values) });
  return {
    routes,
    keyed: spread(samples.keyed),
    scanned: spread(samples.scanned),
    bySource: spread(samples.bySource),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.stdout.write(`${JSON.stringify(measureRouting(), null, 2)}\n`);
}
