import { relative, resolve } from "node:path";
import { AssetHashType, DockerImage, type Duration, RemovalPolicy, Validations } from "aws-cdk-lib";
import { Role, ServicePrincipal } from "aws-cdk-lib/aws-iam";
import {
  ApplicationLogLevel,
  Architecture,
  type CfnFunction,
  Code,
  Function as LambdaFunction,
  LoggingFormat,
  Runtime,
  SystemLogLevel,
} from "aws-cdk-lib/aws-lambda";
import { LogGroup, RetentionDays } from "aws-cdk-lib/aws-logs";
import { Construct } from "constructs";
import { loadConfigFile } from "../functions/core/config";
import { LOG_LEVEL_VARIABLE } from "../functions/core/log";
import { METRICS_NAMESPACE, METRICS_SERVICE } from "../functions/core/metrics";
import { bundleFunction } from "./bundling";
import { type TracingSettings, tracingEnvironment } from "./tracing";

/**
 * The environment every hookline function gets from this construct (the stack adds its own).
 * No `--enable-source-maps`: node would read and decode every loaded file's map on every cold
 * start; the one stack hookline logs is mapped when it is logged (`sourceMappedStack`).
 */
export const FUNCTION_ENVIRONMENT: Readonly<Record<string, string>> = {
  POWERTOOLS_SERVICE_NAME: METRICS_SERVICE,
  POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
};

/** Lambda's application log levels, most detailed first. */
const LAMBDA_LOG_LEVELS: readonly ApplicationLogLevel[] = [
  ApplicationLogLevel.TRACE,
  ApplicationLogLevel.DEBUG,
  ApplicationLogLevel.INFO,
  ApplicationLogLevel.WARN,
  ApplicationLogLevel.ERROR,
  ApplicationLogLevel.FATAL,
];

/**
 * The function's application log level (Lambda's filter) for hookline's own `logLevel`: INFO, or
 * more detailed when hookline's level is. Lambda gives a line without a `level` key the level
 * INFO and drops it below the application log level ("Log-level filtering",
 * https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-log-level.html). The
 * metric (EMF) lines carry no level, so a filter above INFO would drop every custom metric;
 * hookline's logger drops its own lines below `logLevel` itself (`HOOKLINE_LOG_LEVEL`).
 */
export function lambdaApplicationLogLevel(logLevel: ApplicationLogLevel): ApplicationLogLevel {
  const index = Math.min(
    LAMBDA_LOG_LEVELS.indexOf(logLevel),
    LAMBDA_LOG_LEVELS.indexOf(ApplicationLogLevel.INFO),
  );
  return LAMBDA_LOG_LEVELS[index] ?? ApplicationLogLevel.INFO;
}

export interface HooklineFunctionProps {
  /** The handler module, e.g. `functions/ingest/handler.ts`; it must `export const handler`. */
  readonly entry: string;
  readonly description: string;
  readonly timeout: Duration;
  readonly memorySize: number;
  /** Absolute path of the config file: checked at synth and carried in the code. */
  readonly configPath: string;
  /** Directory holding package-lock.json (the esbuild working directory). */
  readonly projectRoot: string;
  readonly environment?: Record<string, string>;
  /** @default one month */
  readonly logRetention?: RetentionDays;
  /** The lowest level of hookline's own log lines that is kept. @default INFO */
  readonly logLevel?: ApplicationLogLevel | undefined;
  /**
   * OpenTelemetry tracing (docs/tracing.md): the `OTEL_*` environment that loads and points the
   * SDK. @default off: no variable, and the SDK's chunk is never loaded
   */
  readonly tracing?: TracingSettings | undefined;
}

/**
 * A hookline Lambda function with the house defaults: Node.js 22 on arm64, bundled by the local
 * esbuild as minified ESM with source maps, the checked config in the code, Powertools
 * settings, and its own log group with a retention (the role may write to that group only).
 *
 * Logs are Lambda's JSON format: hookline's lines at `logLevel` (INFO), filtered by hookline's
 * logger (`HOOKLINE_LOG_LEVEL`); Lambda's filter at INFO at most, so the metric lines, which
 * count as INFO, reach CloudWatch (`lambdaApplicationLogLevel`); Lambda's own platform lines at
 * WARN only, so no START/END/REPORT line is written (and paid for) per invocation.
 *
 * @example
 * const ingest = new HooklineFunction(this, "Ingest", {
 *   entry: "functions/ingest/handler.ts", description: "…", timeout: Duration.seconds(8),
 *   memorySize: 512, configPath, projectRoot,
 * });
 * table.grant(ingest.fn, "dynamodb:PutItem");
 */
export class HooklineFunction extends Construct {
  readonly fn: LambdaFunction;
  readonly logGroup: LogGroup;
  readonly role: Role;

  constructor(scope: Construct, id: string, props: HooklineFunctionProps) {
    super(scope, id);

    const logLevel = props.logLevel ?? ApplicationLogLevel.INFO;
    this.logGroup = new LogGroup(this, "Logs", {
      retention: props.logRetention ?? RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    // An own role instead of AWSLambdaBasicExecutionRole: log writes to this group only.
    this.role = new Role(this, "Role", {
      assumedBy: new ServicePrincipal("lambda.amazonaws.com"),
      description: `hookline ${id} function`,
    });
    this.logGroup.grantWrite(this.role);

    this.fn = new LambdaFunction(this, "Function", {
      code: functionCode(props.projectRoot, props.entry, props.configPath),
      handler: "index.handler",
      description: props.description,
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      timeout: props.timeout,
      memorySize: props.memorySize,
      role: this.role,
      logGroup: this.logGroup,
      loggingFormat: LoggingFormat.JSON,
      applicationLogLevelV2: lambdaApplicationLogLevel(logLevel),
      systemLogLevelV2: SystemLogLevel.WARN,
      environment: {
        ...FUNCTION_ENVIRONMENT,
        [LOG_LEVEL_VARIABLE]: logLevel,
        ...(props.tracing && tracingEnvironment(props.tracing)),
        ...props.environment,
      },
    });
    // CDK makes every function DependsOn its role, which the Role GetAtt already implies.
    (this.fn.node.defaultChild as CfnFunction).addMetadata("cfn-lint", {
      config: { ignore_checks: ["W3005"] },
    });
    Validations.of(this.fn).acknowledge({
      id: "AwsSolutions-L1",
      reason:
        "nodejs22.x is hookline's house runtime: the bundles target it (esbuild node22) and are tested for it; a runtime bump is a deliberate change with its own test run.",
    });
  }
}

/**
 * The function's code: bundled by the local esbuild (`bundleFunction`: ESM, code splitting,
 * source maps), with the config checked at synth in the code. `NodejsFunction` cannot split code (it bundles to one
 * `--outfile`), hence this asset. The bundle runs in-process, never in Docker: the image is
 * only named because CDK requires one, and a failing build fails synth. Skipped, like any
 * bundling, for stacks that `cdk` does not bundle (`aws:cdk:bundling-stacks`).
 */
function functionCode(projectRoot: string, entry: string, configPath: string): Code {
  return Code.fromAsset(projectRoot, {
    assetHashType: AssetHashType.OUTPUT,
    bundling: {
      image: DockerImage.fromRegistry("public.ecr.aws/sam/build-nodejs22.x"),
      // What the bundling does, named: CDK caches a bundled asset by its bundling options and
      // cannot see inside `tryBundle`, so without the entry here every function of a stack
      // would get the first one's bundle (test/infra/function-code.test.ts).
      command: ["bundleFunction", relative(projectRoot, resolve(projectRoot, entry))],
      local: {
        tryBundle(outputDir) {
          // Checked here, at synth: the Lambda reads the result as a plain object.
          const config = loadConfigFile(configPath);
          bundleFunction(resolve(projectRoot, entry), outputDir, { config });
          return true;
        },
      },
    },
  });
}
