/**
 * `npm run cost`: hookline's monthly AWS bill for a workload, read from the stack's template.
 *
 *   npm run cost                                   # 10 M webhooks, 20 % routed, the shipped config
 *   npm run cost -- --webhooks 2e6 --routed 0.5 --deferred 0.3 --latency 800
 *   npm run cost -- --template cdk.out/Hookline.template.json   # a template you synthesized
 *   npm run cost -- --context dashboard=false --context accessLogs=true
 *
 * Without --template the stack is synthesized in process (no bundling, no AWS access) from the
 * config and cdk.json, as `cdk synth` does. A portal without a Bitrix24 target gets a webhook
 * URL reference (`bitrix.webhookUrl: "env:BITRIX_WEBHOOK_URL"`), since a deployed stack needs
 * one (and pays for its secret).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { App } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import { WRITES_PER_MESSAGE } from "../bench/write-budget";
import { stackPropsFromContext } from "../lib/app-props";
import { HooklineStack, PROJECT_ROOT } from "../lib/hookline-stack";
import {
  ASSUMPTIONS,
  type Bill,
  type CfnTemplate,
  DEFAULT_WORKLOAD,
  LEVERS,
  monthlyCost,
  OPEN_LEVERS,
  PRICES,
  type StackFacts,
  stackFacts,
  type Workload,
  type WritesPerMessage,
} from "./cost-model";

/** Synthesizes the stack in process, as `cdk synth` would with cdk.json and `context`. */
export function synthesizeTemplate(context: Record<string, string> = {}): CfnTemplate {
  const cdkJson = JSON.parse(readFileSync(resolve(PROJECT_ROOT, "cdk.json"), "utf8")) as {
    context?: Record<string, unknown>;
  };
  const app = new App({
    context: { ...cdkJson.context, ...context, "aws:cdk:bundling-stacks": [] },
  });
  const props = stackPropsFromContext(app);
  const configPath = resolve(PROJECT_ROOT, props.configPath);
  type Portal = { id?: string; webhookUrl?: unknown; oauth?: unknown; auth?: unknown };
  const raw = JSON.parse(readFileSync(configPath, "utf8")) as {
    bitrix?: Portal;
    portals?: Portal[];
  };
  const dir = mkdtempSync(join(tmpdir(), "hookline-cost-"));
  try {
    // A deployment needs a target for every portal (and pays for its secret).
    let path = configPath;
    const untargeted = [...(raw.bitrix ? [raw.bitrix] : []), ...(raw.portals ?? [])].filter(
      (portal) => !portal.webhookUrl && !portal.oauth && !portal.auth,
    );
    if (untargeted.length > 0) {
      for (const portal of untargeted) {
        portal.webhookUrl = portal.id
          ? `env:BITRIX_${portal.id.toUpperCase().replace(/[^A-Z0-9]/g, "_")}_URL`
          : "env:BITRIX_WEBHOOK_URL";
      }
      path = join(dir, "hookline.config.json");
      writeFileSync(path, JSON.stringify(raw));
    }
    const stack = new HooklineStack(app, "Hookline", { ...props, configPath: path });
    return Template.fromStack(stack).toJSON() as CfnTemplate;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The bill as a text table, total last. */
export function formatBill(bill: Bill, workload: Workload): string {
  const rows = bill.items.map(
    ({ item, basis, dollars }) =>
      `  ${item.padEnd(38)} ${dollars.toFixed(2).padStart(7)}   ${basis}`,
  );
  return [
    `hookline on AWS, one month: ${(workload.webhooks / 1e6).toFixed(1)} M webhooks, ` +
      `${pct(workload.routed)} routed, ${pct(workload.deferred)} of those deferred to a digest ` +
      `(${workload.eventsPerDigest} per digest), Bitrix24 answering in ${workload.bitrixLatencyMs} ms`,
    "  list prices, us-east-1, no free tier in the items",
    "",
    `  ${"item".padEnd(38)} ${"$/month".padStart(7)}   basis`,
    ...rows,
    `  ${"total at list price".padEnd(38)} ${bill.total.toFixed(2).padStart(7)}`,
    `  ${"AWS's always-free monthly allowances".padEnd(38)} ${(-bill.alwaysFreeCredit).toFixed(2).padStart(7)}   Lambda, SQS, CloudWatch, data out, DynamoDB storage`,
    `  ${"total in an account of its own".padEnd(38)} ${(bill.total - bill.alwaysFreeCredit).toFixed(2).padStart(7)}`,
  ].join("\n");
}

/** What each lever saves: the list-price total with that lever undone, and the difference. */
export function formatLevers(facts: StackFacts, workload: Workload): string {
  const total = monthlyCost(facts, workload).total;
  return [
    `  ${"lever".padEnd(62)} ${"without".padStart(8)} ${"saves".padStart(6)}`,
    ...LEVERS.map(({ lever, undo, undoWrites }) => {
      const without = monthlyCost(undo(facts), workload, undoWrites?.(WRITES_PER_MESSAGE)).total;
      return `  ${lever.padEnd(62)} ${without.toFixed(2).padStart(8)} ${(without - total).toFixed(2).padStart(6)}`;
    }),
  ].join("\n");
}

/**
 * What each lever not pulled yet would save: the total with it, and with it and every lever above
 * it (`OPEN_LEVERS`, in order).
 */
export function formatOpenLevers(facts: StackFacts, workload: Workload): string {
  const total = monthlyCost(facts, workload).total;
  let state: [StackFacts, WritesPerMessage] = [facts, WRITES_PER_MESSAGE];
  if (OPEN_LEVERS.length === 0)
    return "  not pulled yet: none (every lever priced here is in the code)";
  return [
    `  ${"not pulled yet".padEnd(62)} ${"with it".padStart(8)} ${"saves".padStart(6)} ${"with all so far".padStart(16)}`,
    ...OPEN_LEVERS.map(({ lever, apply }) => {
      const [leverFacts, leverWrites] = apply(facts, WRITES_PER_MESSAGE);
      const alone = monthlyCost(leverFacts, workload, leverWrites).total;
      state = apply(...state);
      const sofar = monthlyCost(state[0], workload, state[1]).total;
      return `  ${lever.padEnd(62)} ${alone.toFixed(2).padStart(8)} ${(total - alone).toFixed(2).padStart(6)} ${sofar.toFixed(2).padStart(16)}`;
    }),
  ].join("\n");
}

const pct = (share: number) => `${Math.round(share * 100)} %`;

function main() {
  const { values } = parseArgs({
    options: {
      webhooks: { type: "string" },
      routed: { type: "string" },
      deferred: { type: "string" },
      latency: { type: "string" },
      "events-per-digest": { type: "string" },
      template: { type: "string" },
      context: { type: "string", multiple: true },
      assumptions: { type: "boolean" },
      levers: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    process.stdout.write(
      "npm run cost -- [--webhooks N] [--routed share] [--deferred share] [--latency ms]\n" +
        "                [--events-per-digest N] [--template file] [--context key=value ...]\n" +
        "                [--levers] [--assumptions]\n",
    );
    return;
  }
  const number = (text: string | undefined, fallback: number, name: string, max = Infinity) => {
    if (text === undefined) return fallback;
    const value = Number(text);
    if (!Number.isFinite(value) || value < 0 || value > max) {
      throw new Error(`--${name}: expected a number from 0 to ${max}, got ${text}`);
    }
    return value;
  };
  const workload: Workload = {
    webhooks: number(values.webhooks, DEFAULT_WORKLOAD.webhooks, "webhooks"),
    routed: number(values.routed, DEFAULT_WORKLOAD.routed, "routed", 1),
    deferred: number(values.deferred, DEFAULT_WORKLOAD.deferred, "deferred", 1),
    bitrixLatencyMs: number(values.latency, DEFAULT_WORKLOAD.bitrixLatencyMs, "latency"),
    eventsPerDigest: Math.max(
      1,
      number(values["events-per-digest"], DEFAULT_WORKLOAD.eventsPerDigest, "events-per-digest"),
    ),
  };
  const context = Object.fromEntries(
    (values.context ?? []).map((pair) => {
      const at = pair.indexOf("=");
      if (at < 1) throw new Error(`--context ${pair}: expected key=value`);
      return [pair.slice(0, at), pair.slice(at + 1)];
    }),
  );
  const template = values.template
    ? (JSON.parse(readFileSync(values.template, "utf8")) as CfnTemplate)
    : synthesizeTemplate(context);
  const facts = stackFacts(template);
  const bill = monthlyCost(facts, workload);
  process.stdout.write(`${formatBill(bill, workload)}\n`);
  if (values.levers) {
    process.stdout.write(
      `\n${formatLevers(facts, workload)}\n\n${formatOpenLevers(facts, workload)}\n`,
    );
  }
  if (values.assumptions) {
    process.stdout.write(
      `\nprices: ${JSON.stringify(PRICES, null, 2)}\nassumptions: ${JSON.stringify(ASSUMPTIONS, null, 2)}\n`,
    );
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  try {
    main();
  } catch (error) {
    process.stderr.write(`hookline cost: ${(error as Error).message}\n`);
    process.exit(1);
  }
}
