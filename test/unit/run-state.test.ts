import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readRunState, removeRunState, runStatePath, writeRunState } from "../../devkit/run-state";

const state = (pid: number) => ({
  pid,
  url: "http://127.0.0.1:3000",
  dynamoEndpoint: "http://127.0.0.1:8000",
  tableName: "hookline",
  config: "hookline.config.json",
  startedAt: "2026-11-25T09:00:00.000Z",
});

describe("the local run's state file", () => {
  it("is found while its process lives, and not after", () => {
    const cwd = mkdtempSync(join(tmpdir(), "hookline-state-"));
    expect(readRunState(cwd)).toBeUndefined();
    writeRunState(cwd, state(process.pid));
    expect(readRunState(cwd)).toEqual(state(process.pid));
    expect(readRunState(cwd, () => false)).toBeUndefined();
  });

  it("is removed only by the process it describes", () => {
    const cwd = mkdtempSync(join(tmpdir(), "hookline-state-"));
    writeRunState(cwd, state(process.pid));
    removeRunState(cwd, process.pid + 1);
    expect(existsSync(runStatePath(cwd))).toBe(true);
    removeRunState(cwd, process.pid);
    expect(existsSync(runStatePath(cwd))).toBe(false);
  });
});
