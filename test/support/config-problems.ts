import { expect } from "vitest";
import { parseConfig } from "../../functions/core/config";
import { ConfigError } from "../../functions/core/errors";

/** The ConfigError message for a config, or a failure if it was accepted. */
export function problemsOf(config: unknown): string {
  try {
    parseConfig(config, "test.json");
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error("config was accepted");
}
