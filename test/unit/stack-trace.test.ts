import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { sourceMappedStack } from "../../functions/adapters/stack-trace";
import { bundleFunction } from "../../lib/bundling";

const outdir = mkdtempSync(join(tmpdir(), "hookline-stack-"));
afterAll(() => rmSync(outdir, { recursive: true, force: true }));

describe("sourceMappedStack", () => {
  it("maps a bundled stack to the sources, in a node without --enable-source-maps", () => {
    bundleFunction(join(import.meta.dirname, "fixtures/throws.ts"), outdir);
    const printed = execFileSync(process.execPath, [join(outdir, "index.mjs")], {
      env: { PATH: process.env.PATH ?? "" },
      encoding: "utf8",
    });
    const { raw, mapped } = JSON.parse(printed) as { raw: string; mapped: string };
    expect(raw).toContain("index.mjs:");
    expect(raw).not.toContain("throws.ts");
    expect(mapped).toMatch(/test\/unit\/fixtures\/throws\.ts:5:9/);
    expect(mapped.split("\n")[0]).toBe("Error: expected failure");
  });

  it("leaves frames without a map, and no stack, as they are", () => {
    const stack = "Error: x\n    at f (/nowhere/file.mjs:1:2)\n    at node:internal/x:3:4";
    expect(sourceMappedStack(stack)).toBe(stack);
    expect(sourceMappedStack(undefined)).toBeUndefined();
  });
});
