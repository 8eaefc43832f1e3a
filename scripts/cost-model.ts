/**
 * hookline's monthly AWS bill, from a synthesized template and a workload. The template gives
 * what the stack really has (memory sizes, log settings, batching, alarms, secrets, dashboard,
 * access logs, indexes); `PRICES` and `ASSUMPTIONS` give the rest, each stated once.
 *
 * @example
 * const facts = stackFacts(template);
 * const bill = monthlyCost(facts, DEFAULT_WORKLOAD);
 * console.log(bill.total);
 */

import { READ_UNITS_PER_MESSAGE, WRITES_PER_MESSAGE } from "../bench/write-budget";
import { DASHBOARD_SERIES_VARIABLE } from "../functions/adapters/telemetry";
import { PORTALS_COUNTED_METADATA } from "../lib/monitoring";

/** List prices, us-east-1, on-demand, arm64, standard classes; no free tier of any kind. */

export const PRICES = {
  httpApiPerMillion: 1.0,
  lambdaRequestsPerMillion: 0.2,
  lambdaArmPerGbSecond: 0.0000133334,
  sqsPerMillion: 0.4,
  dynamoWritePerMillion: 0.625,
  dynamoReadPerMillion: 0.125,
  dynamoStoragePerGbMonth: 0.25,
  dynamoPitrPerGbMonth: 0.2,
  secretPerMonth: 0.4,
  secretsApiPer10k: 0.05,
  /** Standard parameters and standard throughput (40 reads/s a region): no charge. */
  parameterStandardPerMonth: 0,
  /** A SecureString read decrypts with KMS (the AWS managed key: no monthly fee, requests billed). */
  kmsRequestsPer10k: 0.03,
  logsIngestPerGb: 0.5,
  logsIngestInfrequentPerGb: 0.25,
  logsStoragePerGbMonth: 0.03,
  metricPerMonth: 0.3,
  alarmMetricPerMonth: 0.1,
  dashboardPerMonth: 3.0,
  schedulerPerMillion: 1.0,
  dataOutPerGb: 0.09,
} as const;

/**
 * AWS's always-free monthly allowances (not the 12-month trial), which an account of hookline's
 * own gets in full: an account shared with other workloads, or a member of an organization other
 * than the one that gets them, may have used them up already.
 */
export const ALWAYS_FREE = {
  lambdaRequests: 1_000_000,
  lambdaGbSeconds: 400_000,
  sqsRequests: 1_000_000,
  metrics: 10,
  alarmMetrics: 10,
  logsGb: 5,
  dashboards: 3,
  dataOutGb: 100,
  schedulerInvocations: 14_000_000,
  dynamoStorageGb: 25,
  kmsRequests: 20_000,
} as const;

/**
 * What the template cannot say, measured or stated. Log line sizes are Powertools' own output
 * with hookline's fields and the Lambda context, measured once: an INFO line about 530 bytes, an
 * EMF line 215 to 260. CPU per event is `npm run bench`'s figure with room for the handler
 * around it. `npm run cost -- --assumptions` prints this table.
 */
export const ASSUMPTIONS = {
  /** Lambda bills CPU at this memory as one full core; below it CPU time stretches in proportion. */
  fullCoreMb: 1769,
  ingestCpuMs: 0.3,
  /** Receipt PutItem and SendMessage, one after the other. */
  ingestRoutedIoMs: 25,
  deliverCpuMs: 2,
  /** The weekly-slot claim, the rate-limiter turn, the confirm and the outcome, one after another. */
  deliverIoMs: 40,
  sweepIoMs: 20,
  sweepCpuMs: 5,
  /** The event source's long-polling pollers (5 at the least) and their 20 s polls. */
  sqsPollers: 5,
  sqsLongPollSeconds: 20,
  /**
   * DynamoDB writes per message kind, each a write unit (items under 1 KB: a message up to ~600
   * characters): the counts the bench's counting client measures, stated once in
   * bench/write-budget.ts and held to by test/integration/write-budget.test.ts.
   */
  writes: WRITES_PER_MESSAGE,
  /**
   * DynamoDB read request units per message kind, and per sweep run: measured the same way (each
   * read's consumed capacity, by DynamoDB's rules), stated once in bench/write-budget.ts.
   */
  reads: READ_UNITS_PER_MESSAGE,
  /** Bytes a log event is billed: the line, plus CloudWatch's 26 bytes per event. */
  logEventOverhead: 26,
  emfLineBytes: 250,
  infoLineBytes: 530,
  /** START, END and REPORT in Lambda's JSON format. */
  platformLinesBytes: 750,
  accessLogLineBytes: 330,
  /** Logs are kept 30 days; CloudWatch stores them compressed, about 6:1 for JSON. */
  logCompression: 6,
  /** Item sizes (with DynamoDB's 100-byte overhead) and how long each is kept. */
  receiptBytes: 250,
  outcomeBytes: 600,
  /** An outcome's projection in an index that holds every outcome (the `events` index). */
  indexEntryBytes: 350,
  keptDays: 30,
  /** Warm ingest instances; each reads each signing secret every 5 minutes (Powertools cache). */
  ingestWarmInstances: 2,
  secretCacheMinutes: 5,
  /** Share of hours a metric that only counts faults has data (CloudWatch prorates by hour). */
  faultMetricHourShare: 0.1,
  /** Bytes out to the internet: one Bitrix24 request, one HTTP answer to a sender. */
  bitrixRequestBytes: 1500,
  apiAnswerBytes: 300,
} as const;

/** DynamoDB writes per message kind (bench/write-budget.ts). */
export type WritesPerMessage = { readonly [K in keyof typeof WRITES_PER_MESSAGE]: number };

/** DynamoDB read request units per message kind and sweep run (bench/write-budget.ts). */
export type ReadUnitsPerMessage = {
  readonly [K in keyof typeof READ_UNITS_PER_MESSAGE]: number;
};

/** Indexes only deferred events enter; any other index is taken to hold every outcome. */
const DIGEST_INDEXES: readonly string[] = ["due", "digest"];

const SECONDS_PER_MONTH = 30 * 24 * 3600;
const MINUTES_PER_MONTH = SECONDS_PER_MONTH / 60;
const GB = 1024 ** 3;

export interface Workload {
  /** Webhooks received per month. */
  webhooks: number;
  /** Share of webhooks that match a route (one message each). */
  routed: number;
  /** Share of routed messages whose user's weekly slot is taken: they wait for a digest. */
  deferred: number;
  /** One Bitrix24 call, milliseconds. */
  bitrixLatencyMs: number;
  /** Deferred events per digest. */
  eventsPerDigest: number;
}

export const DEFAULT_WORKLOAD: Workload = {
  webhooks: 10_000_000,
  routed: 0.2,
  deferred: 0,
  bitrixLatencyMs: 450,
  eventsPerDigest: 5,
};

export type FunctionName = "ingest" | "deliver" | "sweep";

export interface FunctionFacts {
  memoryMb: number;
  /** Lambda's own START/END/REPORT lines are written (text format, or system level INFO/DEBUG). */
  platformLines: boolean;
  /** hookline's INFO lines are kept (application level INFO, DEBUG or TRACE). */
  infoLines: boolean;
}

export interface StackFacts {
  functions: Record<FunctionName, FunctionFacts>;
  batchSize: number;
  batchingWindowSeconds: number;
  sweepsPerMonth: number;
  /** Secrets Manager secrets the stack creates. */
  secrets: number;
  /** `env:` secrets that are Parameter Store SecureStrings under one prefix. */
  secretParameters: number;
  sources: number;
  alarms: number;
  alarmMetrics: number;
  dashboards: number;
  /** The HTTP API's access log group class, when access logs are on. */
  accessLogs: "STANDARD" | "INFREQUENT_ACCESS" | undefined;
  /** The table's global secondary indexes, by name. */
  indexes: string[];
  pointInTimeRecovery: boolean;
  /** Portals whose health figures are counted per portal too (0 with a single portal). */
  portalsCounted: number;
  /**
   * Deliver writes the series only the dashboard reads (messages sent, deferred and notified;
   * delivery latency): on a stack with the dashboard (`HOOKLINE_DASHBOARD_SERIES`).
   */
  dashboardSeries: boolean;
  /**
   * Steady metric series beyond hookline's own dimensions (0 for the code as it is); the levers
   * use it to price the metrics the code no longer writes.
   */
  extraSteadySeries?: number;
  /** Metric (EMF) lines per webhook (0 for the code as it is: the API counts webhooks). */
  emfLinesPerWebhook?: number;
}

type Resource = {
  Type: string;
  Properties?: Record<string, unknown>;
  Metadata?: Record<string, unknown>;
};
export interface CfnTemplate {
  Resources: Record<string, Resource>;
  Outputs?: Record<string, unknown>;
  /** `Hookline`: counts the stack writes (TEMPLATE_METADATA_KEY in lib/hookline-stack.ts). */
  Metadata?: Record<string, unknown>;
}

/** Reads what costs money out of a synthesized hookline template. */
export function stackFacts(template: CfnTemplate): StackFacts {
  const resources = Object.entries(template.Resources);
  const ofType = (type: string) => resources.filter(([, r]) => r.Type === type);
  const fn = (prefix: string): FunctionFacts => {
    const found = ofType("AWS::Lambda::Function").find(([id]) => id.startsWith(prefix));
    if (!found) throw new Error(`template has no ${prefix} function`);
    const props = found[1].Properties ?? {};
    const logging = (props.LoggingConfig ?? {}) as Record<string, string | undefined>;
    const json = logging.LogFormat === "JSON";
    const quiet = (level: string | undefined, kept: string[]) => !kept.includes(level ?? "INFO");
    return {
      memoryMb: Number(props.MemorySize ?? 128),
      platformLines: !json || !quiet(logging.SystemLogLevel, ["INFO", "DEBUG"]),
      // hookline's own level (its logger filters), else Lambda's filter level.
      infoLines:
        !json ||
        !quiet(
          ((props.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables
            ?.HOOKLINE_LOG_LEVEL as string | undefined) ?? logging.ApplicationLogLevel,
          ["INFO", "DEBUG", "TRACE"],
        ),
    };
  };
  const mapping = ofType("AWS::Lambda::EventSourceMapping")[0]?.[1].Properties ?? {};
  const schedule = ofType("AWS::Scheduler::Schedule")[0]?.[1].Properties?.ScheduleExpression;
  const alarms = ofType("AWS::CloudWatch::Alarm").map(([, r]) => r.Properties ?? {});
  const stage = ofType("AWS::ApiGatewayV2::Stage")[0]?.[1].Properties ?? {};
  const accessLogGroup = stage.AccessLogSettings
    ? ofType("AWS::Logs::LogGroup").find(([id]) => id.startsWith("ApiAccessLogs"))?.[1]
    : undefined;
  const table = ofType("AWS::DynamoDB::Table")[0]?.[1].Properties ?? {};
  const counts = (template.Metadata?.Hookline ?? {}) as {
    sources?: number;
    secretParameters?: number;
  };
  return {
    functions: { ingest: fn("Ingest"), deliver: fn("Deliver"), sweep: fn("Sweep") },
    batchSize: Number(mapping.BatchSize ?? 10),
    batchingWindowSeconds: Number(mapping.MaximumBatchingWindowInSeconds ?? 0),
    sweepsPerMonth: schedule ? MINUTES_PER_MONTH / rateMinutes(String(schedule)) : 0,
    secrets: ofType("AWS::SecretsManager::Secret").length,
    secretParameters: counts.secretParameters ?? 0,
    sources:
      counts.sources ??
      Object.keys(template.Outputs ?? {}).filter((key) => /^WebhookUrl(?!Base$)/.test(key)).length,
    alarms: alarms.length,
    alarmMetrics: alarms.reduce(
      (sum, alarm) =>
        sum +
        (Array.isArray(alarm.Metrics)
          ? (alarm.Metrics as Array<Record<string, unknown>>).filter((m) => m.MetricStat).length
          : 1),
      0,
    ),
    dashboards: ofType("AWS::CloudWatch::Dashboard").length,
    dashboardSeries:
      (
        ofType("AWS::Lambda::Function").find(([id]) => id.startsWith("Deliver"))?.[1].Properties
          ?.Environment as { Variables?: Record<string, unknown> } | undefined
      )?.Variables?.[DASHBOARD_SERIES_VARIABLE] === "true",
    portalsCounted: Number(
      ofType("AWS::SNS::Topic")[0]?.[1].Metadata?.[PORTALS_COUNTED_METADATA] ?? 0,
    ),
    accessLogs: accessLogGroup
      ? accessLogGroup.Properties?.LogGroupClass === "INFREQUENT_ACCESS"
        ? "INFREQUENT_ACCESS"
        : "STANDARD"
      : undefined,
    indexes: ((table.GlobalSecondaryIndexes ?? []) as Array<{ IndexName: string }>).map(
      (index) => index.IndexName,
    ),
    pointInTimeRecovery: Boolean(
      (table.PointInTimeRecoverySpecification as { PointInTimeRecoveryEnabled?: boolean })
        ?.PointInTimeRecoveryEnabled,
    ),
  };
}

function rateMinutes(expression: string): number {
  const match = /^rate\((\d+) (minute|minutes|hour|hours)\)$/.exec(expression);
  if (!match) throw new Error(`cannot read schedule ${expression}`);
  return Number(match[1]) * (match[2]?.startsWith("hour") ? 60 : 1);
}

export interface LineItem {
  item: string;
  /** What was counted, in words: `10.0 M requests`. */
  basis: string;
  dollars: number;
}

export interface Bill {
  items: LineItem[];
  /** At list price. */
  total: number;
  /** What `ALWAYS_FREE` takes off the total in an account of hookline's own. */
  alwaysFreeCredit: number;
  /** Figures in between, for the report and the tests. */
  figures: {
    messages: number;
    deliverBatches: number;
    batchFill: number;
    dynamoWrites: number;
    /** Read request units. */
    dynamoReads: number;
    logGb: number;
    metricSeries: number;
  };
}

/** The monthly bill of `workload` on the stack `facts` describe. */
export function monthlyCost(
  facts: StackFacts,
  workload: Workload,
  writes: WritesPerMessage = WRITES_PER_MESSAGE,
  reads: ReadUnitsPerMessage = READ_UNITS_PER_MESSAGE,
): Bill {
  const a = ASSUMPTIONS;
  const p = PRICES;
  const items: LineItem[] = [];
  const add = (item: string, basis: string, dollars: number) =>
    items.push({ item, basis, dollars });

  const routed = workload.webhooks * workload.routed;
  const ignored = workload.webhooks - routed;
  const deferred = routed * workload.deferred;
  const sentAlone = routed - deferred;
  const digests = deferred / workload.eventsPerDigest;
  // Queue messages: one job per routed message, one flush job per digest.
  const messages = routed + digests;

  // 1. HTTP API.
  add(
    "API Gateway HTTP API",
    `${millions(workload.webhooks)} requests`,
    perMillion(workload.webhooks, p.httpApiPerMillion),
  );

  // 2. Ingest: CPU-bound below a full core, so its time stretches as memory shrinks.
  const ingest = facts.functions.ingest;
  const ingestCpu = cpuMs(a.ingestCpuMs, ingest.memoryMb);
  const ingestSeconds =
    (ignored * Math.ceil(ingestCpu) + routed * Math.ceil(ingestCpu + a.ingestRoutedIoMs)) / 1000;
  add(
    "Lambda ingest",
    `${millions(workload.webhooks)} invocations, ${ingest.memoryMb} MB`,
    perMillion(workload.webhooks, p.lambdaRequestsPerMillion) +
      gbSeconds(ingestSeconds, ingest.memoryMb),
  );

  // 3. Deliver: the event source gathers a batch; its records go to Bitrix24 side by side.
  const deliver = facts.functions.deliver;
  const arrivalsPerSecond = messages / SECONDS_PER_MONTH;
  const batchFill = Math.min(
    facts.batchSize,
    1 + (arrivalsPerSecond * facts.batchingWindowSeconds) / a.sqsPollers,
  );
  const batches = messages / batchFill;
  // A batch waits for Bitrix24 unless every record in it is a deferral.
  const callShare = messages > 0 ? (sentAlone + digests) / messages : 0;
  const waitsForBitrix = 1 - (1 - callShare) ** batchFill;
  const batchMs =
    waitsForBitrix * workload.bitrixLatencyMs +
    a.deliverIoMs +
    batchFill * cpuMs(a.deliverCpuMs, deliver.memoryMb);
  add(
    "Lambda deliver",
    `${millions(batches)} invocations of ${batchFill.toFixed(1)} messages, ${Math.round(batchMs)} ms, ${deliver.memoryMb} MB`,
    perMillion(batches, p.lambdaRequestsPerMillion) +
      gbSeconds((batches * Math.ceil(batchMs)) / 1000, deliver.memoryMb),
  );

  // 4. Sweep and its schedule.
  const sweep = facts.functions.sweep;
  const sweepMs = Math.ceil(a.sweepIoMs + cpuMs(a.sweepCpuMs, sweep.memoryMb));
  add(
    "Lambda sweep + EventBridge Scheduler",
    `${thousands(facts.sweepsPerMonth)} runs, ${sweep.memoryMb} MB`,
    perMillion(facts.sweepsPerMonth, p.lambdaRequestsPerMillion + p.schedulerPerMillion) +
      gbSeconds((facts.sweepsPerMonth * sweepMs) / 1000, sweep.memoryMb),
  );

  // 5. SQS: a send per job, a receive per job (at webhook rates each poll returns as soon as one
  // message is there), a batch delete per invocation, and the idle pollers' long polls.
  const idlePolls = (a.sqsPollers * SECONDS_PER_MONTH) / a.sqsLongPollSeconds;
  const sqsRequests = messages + messages + batches + idlePolls;
  add("SQS", `${millions(sqsRequests)} requests`, perMillion(sqsRequests, p.sqsPerMillion));

  // 6. DynamoDB. Every write of an item an index holds is also a write to that index: a
  // deferred event enters the digest indexes (`due`, `digest`) and `events`, and leaves them when
  // its digest goes out; a sent message's outcome enters `events` only where it is listed
  // (`sentIndexEntries`: not on a stack).
  const w = writes;
  const outcomeStates = sentAlone * w.sentIndexEntries + deferred * 2;
  const indexWrites = facts.indexes.reduce(
    (sum, name) => sum + (DIGEST_INDEXES.includes(name) ? deferred * 2 : outcomeStates),
    0,
  );
  const dynamoWrites =
    routed * w.receipt +
    sentAlone * w.sentAlone +
    deferred * (w.deferred + w.digestPerEvent) +
    digests * w.digestFixed +
    indexWrites;
  // Read request units, as measured (bench/write-budget.ts): deliver reads each message's
  // outcome and its user's slot (consistent; the slot's marker says whether a digest waits); a
  // deferred event also reads the holder's outcome; a flush reads its events twice; every sweep
  // run queries each partition of the `due` index. A message is priced as sent alone (a batch
  // request's messages read 1 more each, and write 0.9 fewer).
  const r = reads;
  const dynamoReads =
    routed * r.receipt +
    sentAlone * r.sentAlone +
    deferred * (r.deferred + r.digestPerEvent) +
    digests * r.digestFixed +
    facts.sweepsPerMonth * r.sweep;
  // Receipts and outcomes are kept `keptDays`; an index that holds every outcome stores its
  // projection too (point-in-time recovery covers the table, not its global indexes).
  const kept = Math.min(1, a.keptDays / 30);
  const tableGb = ((routed * (a.receiptBytes + a.outcomeBytes)) / GB) * kept;
  const outcomeIndexes = facts.indexes.filter((name) => !DIGEST_INDEXES.includes(name)).length;
  const listed = sentAlone * w.sentIndexEntries;
  const indexGb = ((listed * outcomeIndexes * a.indexEntryBytes) / GB) * kept;
  const storedGb = tableGb + indexGb;
  add(
    "DynamoDB",
    `${millions(dynamoWrites)} writes (${millions(indexWrites)} to indexes), ${millions(dynamoReads)} read units, ${storedGb.toFixed(1)} GB${facts.pointInTimeRecovery ? " + PITR" : ""}`,
    perMillion(dynamoWrites, p.dynamoWritePerMillion) +
      perMillion(dynamoReads, p.dynamoReadPerMillion) +
      storedGb * p.dynamoStoragePerGbMonth +
      (facts.pointInTimeRecovery ? tableGb * p.dynamoPitrPerGbMonth : 0),
  );

  // 7. Secrets: ingest reads each signing secret every few minutes per warm instance; deliver
  // reads a portal's once per instance. Parameter Store standard charges nothing for either;
  // each SecureString read is a KMS decrypt.
  const secretReads =
    a.ingestWarmInstances * (MINUTES_PER_MONTH / a.secretCacheMinutes) * facts.sources;
  const onParameters = facts.secretParameters > 0;
  add(
    onParameters ? "Parameter Store (secrets)" : "Secrets Manager",
    onParameters
      ? `${facts.secretParameters} SecureStrings, standard tier, ${thousands(secretReads)} reads (KMS)`
      : `${facts.secrets} secrets, ${thousands(secretReads)} reads`,
    facts.secrets * p.secretPerMonth +
      (secretReads / 10_000) * (onParameters ? p.kmsRequestsPer10k : p.secretsApiPer10k) +
      facts.secretParameters * p.parameterStandardPerMonth,
  );

  // 8. CloudWatch Logs: Lambda's platform lines, hookline's INFO lines, metrics (EMF) lines.
  const line = (bytes: number) => bytes + a.logEventOverhead;
  const invocations = { ingest: workload.webhooks, deliver: batches, sweep: facts.sweepsPerMonth };
  let lambdaLogBytes = 0;
  for (const name of ["ingest", "deliver", "sweep"] as const) {
    if (facts.functions[name].platformLines) {
      lambdaLogBytes += invocations[name] * line(a.platformLinesBytes);
    }
  }
  if (ingest.infoLines) lambdaLogBytes += routed * line(a.infoLineBytes);
  if (deliver.infoLines) lambdaLogBytes += (routed + digests) * line(a.infoLineBytes);
  // EMF, written once per invocation with as few lines as the dimension values allow
  // (makeEmfMetrics): per deliver batch one line per outcome it has (Messages, with
  // DeliveryLatency), one per sweep (DigestBacklog); none per webhook (the HTTP API's own Count
  // metric counts them, free).
  const emfLines =
    workload.webhooks * (facts.emfLinesPerWebhook ?? 0) +
    batches * (deferred > 0 ? 2 : 1) +
    facts.sweepsPerMonth;
  lambdaLogBytes += emfLines * line(a.emfLineBytes);
  const accessLogBytes = facts.accessLogs ? workload.webhooks * line(a.accessLogLineBytes) : 0;
  const logGb = (lambdaLogBytes + accessLogBytes) / GB;
  add(
    "CloudWatch Logs",
    `${(lambdaLogBytes / GB).toFixed(1)} GB${facts.accessLogs ? ` + ${(accessLogBytes / GB).toFixed(1)} GB access logs` : ""}`,
    (lambdaLogBytes / GB) * p.logsIngestPerGb +
      (accessLogBytes / GB) *
        (facts.accessLogs === "INFREQUENT_ACCESS"
          ? p.logsIngestInfrequentPerGb
          : p.logsIngestPerGb) +
      (logGb / a.logCompression) * p.logsStoragePerGbMonth,
  );

  // 9. Custom metrics: one per dimension combination, prorated by the hour.
  // Messages sent and deferred, and DeliveryLatency, only the dashboard reads: written only on a
  // stack with one (docs/alarms.md, "What the alarms and metrics cost").
  const outcomeSeries = (sentAlone > 0 ? 1 : 0) + (deferred > 0 ? 1 : 0);
  const steadySeries =
    (facts.extraSteadySeries ?? 0) +
    (facts.sweepsPerMonth > 0 ? 1 : 0) + // DigestBacklog
    (facts.dashboardSeries
      ? outcomeSeries +
        1 + // DeliveryLatency
        // Messages sent and deferred of each portal counted on its own (docs/alarms.md).
        facts.portalsCounted * outcomeSeries
      : 0);
  // Signature failures by source and in total, failed/suppressed/unknown outcomes, Bitrix24
  // errors (about 4 codes), configuration faults, the oldest undelivered message's age and
  // deliver's unexpected per-message errors: there only in the hours they happen.
  // Per portal counted on its own: failed, unknown, rate-limit and operating-limit answers. The
  // oldest undelivered message: in total, and always by portal too (1 + portals).
  const faultSeries =
    facts.sources +
    1 + // SignatureFailures in total, which its one alarm reads
    3 +
    4 +
    1 +
    1 + // DeliverMessageErrors (metric filter)
    1 +
    Math.max(1, facts.portalsCounted) + // OldestUndelivered
    facts.portalsCounted * 4;
  const metricSeries = steadySeries + faultSeries * a.faultMetricHourShare;
  add(
    "CloudWatch metrics",
    `${steadySeries} steady series + ${faultSeries} fault series`,
    metricSeries * p.metricPerMonth,
  );

  // 10. Alarms and the dashboard.
  add(
    "CloudWatch alarms",
    `${facts.alarms} alarms on ${facts.alarmMetrics} metrics`,
    facts.alarmMetrics * p.alarmMetricPerMonth,
  );
  add("CloudWatch dashboard", `${facts.dashboards}`, facts.dashboards * p.dashboardPerMonth);

  // 11. Data out to the internet: Bitrix24 requests and the senders' answers.
  const outGb =
    ((sentAlone + digests) * a.bitrixRequestBytes + workload.webhooks * a.apiAnswerBytes) / GB;
  add("Data transfer out", `${outGb.toFixed(1)} GB`, outGb * p.dataOutPerGb);

  const total = items.reduce((sum, entry) => sum + entry.dollars, 0);
  const f = ALWAYS_FREE;
  const upTo = (used: number, free: number) => Math.min(used, free);
  const lambdaRequests = workload.webhooks + batches + facts.sweepsPerMonth;
  const lambdaGbSeconds =
    ingestSeconds * (ingest.memoryMb / 1024) +
    ((batches * Math.ceil(batchMs)) / 1000) * (deliver.memoryMb / 1024) +
    ((facts.sweepsPerMonth * sweepMs) / 1000) * (sweep.memoryMb / 1024);
  const alwaysFreeCredit =
    perMillion(upTo(lambdaRequests, f.lambdaRequests), p.lambdaRequestsPerMillion) +
    upTo(lambdaGbSeconds, f.lambdaGbSeconds) * p.lambdaArmPerGbSecond +
    perMillion(upTo(facts.sweepsPerMonth, f.schedulerInvocations), p.schedulerPerMillion) +
    perMillion(upTo(sqsRequests, f.sqsRequests), p.sqsPerMillion) +
    upTo(storedGb, f.dynamoStorageGb) * p.dynamoStoragePerGbMonth +
    upTo(lambdaLogBytes / GB, f.logsGb) * p.logsIngestPerGb +
    upTo(metricSeries, f.metrics) * p.metricPerMonth +
    upTo(facts.alarmMetrics, f.alarmMetrics) * p.alarmMetricPerMonth +
    upTo(facts.dashboards, f.dashboards) * p.dashboardPerMonth +
    upTo(outGb, f.dataOutGb) * p.dataOutPerGb +
    (onParameters ? (upTo(secretReads, f.kmsRequests) / 10_000) * p.kmsRequestsPer10k : 0);
  return {
    items,
    total,
    alwaysFreeCredit,
    figures: {
      messages,
      deliverBatches: batches,
      batchFill,
      dynamoWrites,
      dynamoReads,
      logGb,
      metricSeries,
    },
  };
}

const cpuMs = (msAtFullCore: number, memoryMb: number) =>
  msAtFullCore * Math.max(1, ASSUMPTIONS.fullCoreMb / memoryMb);
const gbSeconds = (seconds: number, memoryMb: number) =>
  seconds * (memoryMb / 1024) * PRICES.lambdaArmPerGbSecond;
const perMillion = (count: number, price: number) => (count / 1_000_000) * price;
const millions = (count: number) => `${(count / 1_000_000).toFixed(2)} M`;
const thousands = (count: number) => `${Math.round(count / 1000)} k`;

/**
 * The cost levers hookline's stack pulls, each with a way to undo it on the facts, so
 * `npm run cost -- --levers` can show what each one saves.
 */
export const LEVERS: ReadonlyArray<{
  lever: string;
  undo: (facts: StackFacts) => StackFacts;
  /** For a lever in the code's writes (bench/write-budget.ts): the counts without it. */
  undoWrites?: (writes: WritesPerMessage) => WritesPerMessage;
}> = [
  {
    lever: "memory 256/192/192 MB (was 512 MB each)",
    undo: (facts) => ({
      ...facts,
      functions: mapFunctions(facts, (fn) => ({ ...fn, memoryMb: 512 })),
    }),
  },
  {
    lever: "JSON logs, Lambda's own lines at WARN (no START/END/REPORT)",
    undo: (facts) => ({
      ...facts,
      functions: mapFunctions(facts, (fn) => ({ ...fn, platformLines: true })),
    }),
  },
  {
    lever: "deliver batching window (was none)",
    undo: (facts) => ({ ...facts, batchingWindowSeconds: 0 }),
  },
  {
    lever: "no metric line per webhook (was WebhooksReceived by source)",
    undo: (facts) => ({
      ...facts,
      emfLinesPerWebhook: (facts.emfLinesPerWebhook ?? 0) + 1,
      extraSteadySeries: (facts.extraSteadySeries ?? 0) + facts.sources,
    }),
  },
  {
    lever: "secrets in Parameter Store (was a Secrets Manager secret each)",
    undo: (facts) => ({
      ...facts,
      secrets: facts.secrets + facts.secretParameters,
      secretParameters: 0,
    }),
  },
  {
    lever: "one signature-failure alarm for all sources (was one each)",
    undo: (facts) => ({
      ...facts,
      alarms: facts.alarms + facts.sources - 1,
      alarmMetrics: facts.alarmMetrics + facts.sources - 1,
    }),
  },
  {
    lever: "hookline's INFO lines off on AWS (context logLevel=INFO)",
    undo: (facts) => ({
      ...facts,
      functions: mapFunctions(facts, (fn) => ({ ...fn, infoLines: true })),
    }),
  },
  {
    lever: "dashboard optional (context dashboard=true)",
    undo: (facts) => ({ ...facts, dashboards: Math.max(1, facts.dashboards) }),
  },
  {
    lever: "sent, deferred, latency series only with the dashboard",
    undo: (facts) => ({ ...facts, dashboardSeries: true }),
  },
  {
    lever: "API access logs optional (context accessLogs=true)",
    undo: (facts) => ({ ...facts, accessLogs: facts.accessLogs ?? "STANDARD" }),
  },
  {
    lever: "the receipt in one write (was pending, then marked queued)",
    undo: (facts) => facts,
    undoWrites: (writes) => ({ ...writes, receipt: writes.receipt + 1 }),
  },
  {
    lever: "3 writes per message sent alone (was 5)",
    undo: (facts) => facts,
    undoWrites: (writes) => ({ ...writes, sentAlone: writes.sentAlone + 2 }),
  },
  {
    lever: "a stack's events index: no sent messages (was every outcome)",
    undo: (facts) => facts,
    undoWrites: (writes) => ({ ...writes, sentIndexEntries: writes.sentIndexEntries + 1 }),
  },
];

const mapFunctions = (
  facts: StackFacts,
  change: (fn: FunctionFacts) => FunctionFacts,
): Record<FunctionName, FunctionFacts> => ({
  ingest: change(facts.functions.ingest),
  deliver: change(facts.functions.deliver),
  sweep: change(facts.functions.sweep),
});

/**
 * Levers the code does not pull yet, each priced on the same facts (`npm run cost -- --levers`),
 * so docs/cost.md can say what stands between the bill and the budget. A lever that lands moves
 * into the template or bench/write-budget.ts, and its row here saves nothing more.
 */
export const OPEN_LEVERS: ReadonlyArray<{
  lever: string;
  apply: (facts: StackFacts, writes: WritesPerMessage) => [StackFacts, WritesPerMessage];
}> = [];
