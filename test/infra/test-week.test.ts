import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { stackPropsFromContext } from "../../lib/app-props";
import { HooklineStack } from "../../lib/hookline-stack";
import { FIXTURE_CONFIG, testApp, writeConfig } from "./synth";

/** The fixture config with a one-minute week, as a test or a simulator run would use. */
function testWeekConfig(): string {
  const raw = JSON.parse(readFileSync(FIXTURE_CONFIG, "utf8")) as Record<string, unknown> & {
    bitrix: Record<string, unknown>;
  };
  return writeConfig({ ...raw, bitrix: { ...raw.bitrix, weekSeconds: 60 } });
}

describe("a test week on AWS", () => {
  it("is refused by synth: Bitrix24's week is 604800 s, and a shorter one would send too often", () => {
    const config = testWeekConfig();
    const app = testApp({ config });
    expect(() => new HooklineStack(app, "Hookline", stackPropsFromContext(app))).toThrow(
      /bitrix.weekSeconds: 60, not Bitrix24's 604800.*-c allowTestWeek=true/,
    );
  });

  it("synthesizes with -c allowTestWeek=true", () => {
    const app = testApp({ config: testWeekConfig(), allowTestWeek: "true" });
    const stack = new HooklineStack(app, "Hookline", stackPropsFromContext(app));
    expect(stack.config.portals[0]?.weekSeconds).toBe(60);
  });
});
