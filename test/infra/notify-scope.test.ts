import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { stackPropsFromContext } from "../../lib/app-props";
import { HooklineStack } from "../../lib/hookline-stack";
import { FIXTURE_CONFIG, testApp, writeConfig } from "./synth";

/** The fixture config with its route sending the second channel, on a portal with `scopes`. */
function notifyingConfig(scopes?: string[]): string {
  const raw = JSON.parse(readFileSync(FIXTURE_CONFIG, "utf8")) as Record<string, unknown> & {
    bitrix: Record<string, unknown>;
    routes: Record<string, unknown>[];
  };
  return writeConfig({
    ...raw,
    bitrix: { ...raw.bitrix, ...(scopes && { scopes }) },
    routes: raw.routes.map((route) => ({ ...route, whenLimited: "notify" })),
  });
}

describe("a route that notifies, at synth", () => {
  it("is refused on a portal without the im scope: im.notify.system.add would fail on every event", () => {
    const app = testApp({ config: notifyingConfig() });
    expect(() => new HooklineStack(app, "Hookline", stackPropsFromContext(app))).toThrow(
      /routes\[0\]\.whenLimited: "notify" sends im\.notify\.system\.add, which needs the im scope/,
    );
  });

  it("synthesizes once the portal declares im", () => {
    const app = testApp({ config: notifyingConfig(["imopenlines", "im"]) });
    const stack = new HooklineStack(app, "Hookline", stackPropsFromContext(app));
    expect(stack.config.routes[0]?.whenLimited).toBe("notify");
  });
});
