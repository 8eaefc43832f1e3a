import { resolve } from "node:path";
import * as z from "zod";
import { formatPath } from "../core/config";
import { ConfigError } from "../core/errors";

const secretArnMap = z
  .string()
  .transform((text, ctx) => {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      ctx.addIssue({ code: "custom", message: "must be a JSON object" });
      return z.NEVER;
    }
  })
  .pipe(z.record(z.string(), z.string()));

const environmentSchema = z.object({
  HOOKLINE_TABLE: z.string().min(1).default("hookline"),
  HOOKLINE_CONFIG: z.string().min(1).default("hookline.config.json"),
  HOOKLINE_QUEUE_URL: z.url().optional(),
  HOOKLINE_DEAD_LETTER_QUEUE_URL: z.url().optional(),
  HOOKLINE_SECRETS: secretArnMap.optional(),
  AWS_ENDPOINT_URL_DYNAMODB: z.url().optional(),
  LAMBDA_TASK_ROOT: z.string().optional(),
});

export type Environment = z.infer<typeof environmentSchema> & { configPath: string };

/**
 * Reads and validates hookline's environment once; a bad variable is a ConfigError naming it.
 * The config path is relative to the Lambda task root on AWS (the bundled file), else to cwd.
 */
export function readEnvironment(
  env: Readonly<Record<string, string | undefined>> = process.env,
): Environment {
  const result = environmentSchema.safeParse(env);
  if (!result.success) {
    const problems = result.error.issues.map(
      (issue) => `${formatPath(issue.path)}: ${issue.message}`,
    );
    throw new ConfigError(`environment: ${problems.join("; ")}`);
  }
  const parsed = result.data;
  return {
    ...parsed,
    configPath: resolve(parsed.LAMBDA_TASK_ROOT ?? process.cwd(), parsed.HOOKLINE_CONFIG),
  };
}

/** Reads a variable the caller cannot run without. */
export function required<T>(value: T | undefined, name: string): T {
  if (value === undefined) throw new ConfigError(`environment: ${name} is not set`);
  return value;
}
