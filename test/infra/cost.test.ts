import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { MEMORY_MB, PROJECT_ROOT } from "../../lib/hookline-stack";
import { formatBill, formatLevers, synthesizeTemplate } from "../../scripts/cost";
import {
  type CfnTemplate,
  DEFAULT_WORKLOAD,
  monthlyCost,
  type StackFacts,
  stackFacts,
} from "../../scripts/cost-model";

// The shipped example config, as `npm run cost` reads it by default.
let template: CfnTemplate;
let facts: StackFacts;

beforeAll(() => {
  template = synthesizeTemplate();
  facts = stackFacts(template);
}, 60_000);

describe("npm run cost", () => {
  it("reads what costs money from the synthesized template", () => {
    expect(facts).toEqual({
      functions: {
        ingest: { memoryMb: MEMORY_MB.ingest, platformLines: false, infoLines: false },
        deliver: { memoryMb: MEMORY_MB.deliver, platformLines: false, infoLines: false },
        sweep: { memoryMb: MEMORY_MB.sweep, platformLines: false, infoLines: false },
      },
      batchSize: 5,
      batchingWindowSeconds: 20,
      sweepsPerMonth: 43_200,
      // Four sources' signing secrets and the Bitrix24 webhook URL a deployment needs.
      secrets: 5,
      sources: 4,
      alarms: 17,
      alarmMetrics: 22,
      dashboards: 0,
      accessLogs: undefined,
      indexes: ["due", "digest", "events"],
      pointInTimeRecovery: true,
    });
  });

  it("follows the stack's context: dashboard, access logs, log level", () => {
    const levers = stackFacts(
      synthesizeTemplate({ dashboard: "true", accessLogs: "true", logLevel: "INFO" }),
    );
    expect(levers).toMatchObject({ dashboards: 1, accessLogs: "INFREQUENT_ACCESS" });
    expect(levers.functions.deliver.infoLines).toBe(true);
    const base = monthlyCost(facts, DEFAULT_WORKLOAD).total;
    expect(monthlyCost(levers, DEFAULT_WORKLOAD).total - base).toBeGreaterThan(3 + 1 + 0.5);
  });

  it("prices the workload's parts: more routing, deferral or latency never costs less", () => {
    const cost = (change: Partial<typeof DEFAULT_WORKLOAD>) =>
      monthlyCost(facts, { ...DEFAULT_WORKLOAD, ...change }).total;
    const base = cost({});
    expect(cost({ routed: 0.4 })).toBeGreaterThan(base);
    expect(cost({ webhooks: 20_000_000 })).toBeGreaterThan(base);
    expect(cost({ bitrixLatencyMs: 2000 })).toBeGreaterThan(base);
    expect(cost({ webhooks: 0 })).toBeLessThan(12);
  });

  it("brings 10 M webhooks with 20 % routed to at most $25 in an account of its own", () => {
    const bill = monthlyCost(facts, DEFAULT_WORKLOAD);
    expect(bill.total - bill.alwaysFreeCredit).toBeLessThanOrEqual(25);
    // 2 M messages: a receipt and the ledger's 4 writes each, and each outcome in the events index.
    expect(bill.figures.dynamoWrites).toBe(2_000_000 * (1 + 4 + 1));
  });

  it("is what the README's cost section quotes, figure for figure", () => {
    const readme = readFileSync(resolve(PROJECT_ROOT, "README.md"), "utf8");
    const bill = monthlyCost(facts, DEFAULT_WORKLOAD);
    expect(readme).toContain(formatBill(bill, DEFAULT_WORKLOAD));
    expect(readme).toContain(formatLevers(facts, DEFAULT_WORKLOAD));
    expect(readme).toContain(`$${bill.total.toFixed(2)}`);
    expect(readme).toContain(`$${(bill.total - bill.alwaysFreeCredit).toFixed(2)}`);
  });
});
