/**
 * hookline's performance figures, each a ratio to a reference measured side by side in the same
 * run (see bench/README.md). A report, not a test: it exits 0 unless something crashed.
 */
import { cpus } from "node:os";
import { measureColdStart } from "./cold-start";
import { measureDelivery } from "./delivery";
import { benchPayloads } from "./fixtures";
import { measureIngestCpu } from "./ingest-cpu";
import { measureLedgerWrites } from "./ledger-writes";
import { formatTable, kib, micros, millis, type Row, ratioText } from "./stats";

const INGEST_BUDGET = 3;
const COLD_START_BUDGET = 1.25;
const THROUGHPUT_BUDGET = 0.95;

const say = (text: string) => process.stdout.write(`${text}\n`);

async function main(): Promise<void> {
  const started = performance.now();
  say(`hookline bench: node ${process.version}, ${cpus().length} CPUs`);
  const rows: Row[] = [];
  const { nearIssueFigure, median } = benchPayloads();

  say("1/4 ingest CPU per webhook (I/O faked in process)...");
  for (const sample of [nearIssueFigure, median]) {
    const result = await measureIngestCpu(sample, {
      warmupIterations: 3_000,
      batches: 21,
      batchSize: 250,
    });
    const ratio = result.ingestNs / result.baselineNs;
    rows.push({
      measure: `ingest CPU/webhook, ${result.payload}`,
      hookline: micros(result.ingestNs),
      reference: `${micros(result.baselineNs)} (HMAC+compare+parse)`,
      ratio,
      budget: `<= ${INGEST_BUDGET.toFixed(2)}x`,
      within: ratio <= INGEST_BUDGET,
    });
  }

  say("2/4 cold start (bundling, then fresh node processes)...");
  const cold = await measureColdStart(nearIssueFigure, 15);
  const startRatio = cold.fromStart.ingest / cold.fromStart.clientOnly;
  const importRatio = cold.fromImport.ingest / cold.fromImport.clientOnly;
  rows.push(
    {
      measure: "cold start: process start -> first answer",
      hookline: millis(cold.fromStart.ingest),
      reference: `${millis(cold.fromStart.clientOnly)} (client-dynamodb only)`,
      ratio: startRatio,
      budget: `<= ${COLD_START_BUDGET.toFixed(2)}x`,
      within: startRatio <= COLD_START_BUDGET,
    },
    {
      measure: "cold start: import -> first answer",
      hookline: millis(cold.fromImport.ingest),
      reference: `${millis(cold.fromImport.clientOnly)} (client-dynamodb only)`,
      ratio: importRatio,
      budget: `<= ${COLD_START_BUDGET.toFixed(2)}x`,
      within: importRatio <= COLD_START_BUDGET,
    },
  );

  say("3/4 delivery throughput (local bridge, Bitrix24 simulator)...");
  const delivery = await measureDelivery({ webhooks: 110, perSecond: 10, burst: 10 });
  const throughputRatio = delivery.steadyRate / delivery.perSecond;
  rows.push({
    measure: `delivery rate after burst, ${delivery.delivered} msgs, ${delivery.rejected} x 503`,
    hookline: `${delivery.steadyRate.toFixed(3)}/s`,
    reference: `${delivery.perSecond}/s (configured perSecond)`,
    ratio: throughputRatio,
    budget: `>= ${THROUGHPUT_BUDGET.toFixed(2)}x, 0 x 503`,
    within:
      throughputRatio >= THROUGHPUT_BUDGET &&
      delivery.rejected === 0 &&
      delivery.delivered === delivery.webhooks,
  });

  say("4/4 DynamoDB writes per message (counting client, real use cases on dynalite)...");
  const writes = await measureLedgerWrites([1, 5, 20]);
  const digestConstant = Math.max(...writes.digest.map((d) => d.sweep + d.flush - d.events));
  const writeRows: [string, number, string, boolean][] = [
    ["writes: message sent on its own (deliver)", writes.sentAlone, "<= 4", writes.sentAlone <= 4],
    ["writes: deferred event (deliver)", writes.deferred, "<= 2", writes.deferred <= 2],
    [
      "writes: duplicate webhook (ingest)",
      writes.duplicateWebhook,
      "= 1",
      writes.duplicateWebhook === 1,
    ],
    [
      `writes: digest of k events (k = ${writes.digest.map((d) => d.events).join(", ")}), beyond 1 per event`,
      digestConstant,
      "O(1)",
      writes.digest.every((d) => d.sweep + d.flush - d.events === digestConstant),
    ],
  ];
  for (const [measure, count, budget, within] of writeRows) {
    rows.push({
      measure,
      hookline: String(count),
      reference: "",
      ratio: Number.NaN,
      budget,
      within,
    });
  }

  say("");
  say(formatTable(rows));
  say("");
  say(
    `bundle sizes (index.mjs): ingest ${kib(cold.bytes.ingest)}, client-dynamodb only ${kib(cold.bytes.clientOnly)}, empty ${kib(cold.bytes.empty)}`,
  );
  say(
    `cold start medians of ${cold.runs} runs each: empty bundle ${millis(cold.fromStart.empty)} from process start (${millis(cold.fromImport.empty)} import); first answer ${cold.firstAnswer}`,
  );
  say(
    `ingest cold start split: import ${millis(cold.ingestImportOnly)}, first event ${millis(cold.fromImport.ingest - cold.ingestImportOnly)} (config, clients, routes, answer)`,
  );
  say(
    `cold start without --enable-source-maps (diagnostic; the Lambda sets it): ingest ${millis(cold.withoutSourceMaps.ingest)}, client-dynamodb only ${millis(cold.withoutSourceMaps.clientOnly)}, ratio ${ratioText(cold.withoutSourceMaps.ingest / cold.withoutSourceMaps.clientOnly)}`,
  );
  say(
    `delivery: ${delivery.webhooks} webhooks posted in ${delivery.postSeconds.toFixed(2)} s, ${delivery.delivered} delivered over ${delivery.spanSeconds.toFixed(2)} s, steady rate over the last ${delivery.steadyMessages} (sent after the last post and the burst of ${delivery.effectiveBurst} = burst - BUCKET_RESERVE), ${delivery.deadLetters} dead letters`,
  );
  say(`total ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(
      `hookline bench crashed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  },
);
