import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { READ_UNITS_PER_MESSAGE, WRITES_PER_MESSAGE } from "../../bench/write-budget";
import { MEMORY_MB, PROJECT_ROOT } from "../../lib/hookline-stack";
import { formatBill, formatLevers, formatOpenLevers, synthesizeTemplate } from "../../scripts/cost";
import {
  type CfnTemplate,
  DEFAULT_WORKLOAD,
  monthlyCost,
  type ReadUnitsPerMessage,
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
      batchSize: 50,
      batchingWindowSeconds: 20,
      sweepsPerMonth: 43_200,
      // Four sources' signing secrets and the Bitrix24 webhook URL a deployment needs: SecureString
      // parameters under the stack's prefix, no Secrets Manager secret.
      secrets: 0,
      secretParameters: 5,
      sources: 4,
      // One SignatureFailures alarm for the four sources (was one each: 20 on 25).
      alarms: 14,
      alarmMetrics: 19,
      dashboards: 0,
      // Without the dashboard, deliver does not write the series only it reads.
      dashboardSeries: false,
      portalsCounted: 0,
      accessLogs: undefined,
      indexes: ["due", "digest", "events"],
      pointInTimeRecovery: true,
    });
  });

  it("follows the stack's context: dashboard, access logs, log level", () => {
    const levers = stackFacts(
      synthesizeTemplate({ dashboard: "true", accessLogs: "true", logLevel: "INFO" }),
    );
    expect(levers).toMatchObject({
      dashboards: 1,
      dashboardSeries: true,
      accessLogs: "INFREQUENT_ACCESS",
    });
    expect(levers.functions.deliver.infoLines).toBe(true);
    const base = monthlyCost(facts, DEFAULT_WORKLOAD).total;
    expect(monthlyCost(levers, DEFAULT_WORKLOAD).total - base).toBeGreaterThan(3 + 1 + 0.5);
  });

  it("prices the per-portal health series of a config of several portals", () => {
    const config = JSON.parse(
      readFileSync(resolve(PROJECT_ROOT, "hookline.config.json"), "utf8"),
    ) as Record<string, unknown>;
    const portal = (id: string) => ({
      id,
      webhookUrl: `env:BITRIX_${id.toUpperCase()}_URL`,
      openLines: { support: "ab515f5d85a8b844d484f6ea75a2e494" },
    });
    const dir = mkdtempSync(join(tmpdir(), "hookline-cost-"));
    const path = join(dir, "hookline.config.json");
    writeFileSync(
      path,
      JSON.stringify({
        ...config,
        bitrix: undefined,
        portals: [portal("a"), portal("b")],
        routes: (config.routes as object[]).map((route) => ({ ...route, to: { portal: "a" } })),
      }),
    );
    const several = stackFacts(synthesizeTemplate({ config: path }));
    expect(several.portalsCounted).toBe(2);
    const metrics = (f: StackFacts) =>
      monthlyCost(f, DEFAULT_WORKLOAD).items.find((entry) => entry.item === "CloudWatch metrics")
        ?.dollars ?? 0;
    // Their fault series part of the time; with the dashboard, also two portals' `sent` series
    // at $0.30 each.
    const perPortal = (f: StackFacts) => metrics(f) - metrics({ ...f, portalsCounted: 0 });
    expect(perPortal(several)).toBeGreaterThan(0);
    expect(perPortal({ ...several, dashboardSeries: true }) - perPortal(several)).toBeCloseTo(0.6);
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

  // The $25 budget is not met yet: the open levers (README, Cost) price what stands between;
  // these figures pin what the model counts, so a change shows in the bill.
  it("prices 10 M webhooks with 20 % routed from what the code writes and logs", () => {
    const bill = monthlyCost(facts, DEFAULT_WORKLOAD);
    // No metric line per webhook: one metric line per deliver batch (all its messages sent),
    // one per sweep (43,200).
    expect(bill.figures.logGb).toBeCloseTo(
      ((bill.figures.deliverBatches + 43_200) * (250 + 26)) / 1024 ** 3,
      6,
    );
    // Secrets: Parameter Store, no Secrets Manager secret; each read a KMS request.
    const secrets = bill.items.find((item) => item.item.startsWith("Parameter Store"));
    expect(secrets?.dollars).toBeCloseTo(((2 * 8640 * 4) / 10_000) * 0.03, 6);
    // 2 M messages: a receipt (written once) and the ledger's writes for a message sent alone, as counted
    // (bench/write-budget.ts), and its outcome's entries in the events index (none on a stack).
    expect(bill.figures.dynamoWrites).toBe(
      2_000_000 *
        (WRITES_PER_MESSAGE.receipt +
          WRITES_PER_MESSAGE.sentAlone +
          WRITES_PER_MESSAGE.sentIndexEntries),
    );
    // Read request units, as measured (bench/write-budget.ts): deliver's reads for each of the
    // 2 M messages sent alone (ingest of a routed webhook reads none), and each of the 43,200
    // sweep runs' queries of the `due` index.
    const r = READ_UNITS_PER_MESSAGE;
    expect(bill.figures.dynamoReads).toBe(2_000_000 * (r.receipt + r.sentAlone) + 43_200 * r.sweep);
    // Priced in the DynamoDB line at $0.125 a million.
    const noReads = Object.fromEntries(
      Object.keys(r).map((kind) => [kind, 0]),
    ) as unknown as ReadUnitsPerMessage;
    const dynamo = (b: typeof bill) => b.items.find((item) => item.item === "DynamoDB");
    expect(dynamo(bill)?.basis).toContain(
      `${(bill.figures.dynamoReads / 1e6).toFixed(2)} M read units`,
    );
    expect(
      (dynamo(bill)?.dollars ?? 0) -
        (dynamo(monthlyCost(facts, DEFAULT_WORKLOAD, WRITES_PER_MESSAGE, noReads))?.dollars ?? 0),
    ).toBeCloseTo((bill.figures.dynamoReads / 1e6) * 0.125, 9);
  });

  it("prices a deferred event's reads: its deferral and its flush", () => {
    const r = READ_UNITS_PER_MESSAGE;
    const bill = monthlyCost(facts, { ...DEFAULT_WORKLOAD, deferred: 0.5, eventsPerDigest: 5 });
    // 1 M sent alone, 1 M deferred in 200 k digests of 5: each deferral reads its outcome, its
    // user's slot and the holder's outcome; the flush reads each event twice.
    expect(bill.figures.dynamoReads).toBe(
      2_000_000 * r.receipt +
        1_000_000 * r.sentAlone +
        1_000_000 * (r.deferred + r.digestPerEvent) +
        200_000 * r.digestFixed +
        43_200 * r.sweep,
    );
  });

  it("is what the README's cost section quotes, figure for figure", () => {
    const readme = readFileSync(resolve(PROJECT_ROOT, "README.md"), "utf8");
    const bill = monthlyCost(facts, DEFAULT_WORKLOAD);
    expect(readme).toContain(formatBill(bill, DEFAULT_WORKLOAD));
    expect(readme).toContain(formatLevers(facts, DEFAULT_WORKLOAD));
    expect(readme).toContain(formatOpenLevers(facts, DEFAULT_WORKLOAD));
    expect(readme).toContain(`$${bill.total.toFixed(2)}`);
    expect(readme).toContain(`$${(bill.total - bill.alwaysFreeCredit).toFixed(2)}`);
  });
});
