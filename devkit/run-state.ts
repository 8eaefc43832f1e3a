import { randomBytes, timingSafeEqual } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";

/**
 * Where a running `npm start` says how to reach it, so the `hookline` CLI finds the local run
 * by itself: `.hookline/local.json` in the directory it was started from (git-ignored), or
 * `local.json` in HOOKLINE_STATE_DIR when that is set (the test suite sets it, so a test's run never
 * replaces or removes the file of the user's own `npm start`).
 */
export interface LocalRunState {
  pid: number;
  /** The bridge's base URL, e.g. http://127.0.0.1:3000. */
  url: string;
  /** The run's secret: state-changing local endpoints need it (docs/security.md). */
  token?: string;
  dynamoEndpoint: string;
  /** The embedded DynamoDB's per-run credentials (absent: the CLI signs with `local`). */
  dynamoCredentials?: { accessKeyId: string; secretAccessKey: string };
  tableName: string;
  config: string;
  startedAt: string;
}

export const runStatePath = (
  cwd: string,
  env: Readonly<Record<string, string | undefined>> = process.env,
): string =>
  env.HOOKLINE_STATE_DIR
    ? join(resolve(cwd, env.HOOKLINE_STATE_DIR), "local.json")
    : join(cwd, ".hookline", "local.json");

export function writeRunState(cwd: string, state: LocalRunState): void {
  const path = runStatePath(cwd);
  mkdirSync(dirname(path), { recursive: true });
  // It holds the run's credentials: readable by its owner only. Written aside, then renamed, so
  // a reader never sees a half-written file.
  const aside = `${path}.${process.pid}.tmp`;
  writeFileSync(aside, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  renameSync(aside, path);
}

/** Removes the file if it still describes this process (another run may have replaced it). */
export function removeRunState(cwd: string, pid = process.pid): void {
  if (readRunState(cwd, () => true)?.pid === pid) rmSync(runStatePath(cwd), { force: true });
}

/** The running local run, or undefined when none is (no file, or its process is gone). */
export function readRunState(
  cwd: string,
  isAlive: (pid: number) => boolean = processIsAlive,
): LocalRunState | undefined {
  let state: LocalRunState;
  try {
    state = JSON.parse(readFileSync(runStatePath(cwd), "utf8")) as LocalRunState;
  } catch {
    return undefined;
  }
  return typeof state.pid === "number" && isAlive(state.pid) ? state : undefined;
}

function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * The header that carries the run's token. A page of another site cannot read the token (it is
 * only in the run file and the inbox page), so it cannot send samples, replay or forget.
 */
export const TOKEN_HEADER = "x-hookline-token";

/** A fresh per-run secret. */
export const newRunToken = (): string => randomBytes(24).toString("base64url");

/** Whether `headers` (lower-cased names) carry `token`; compared in constant time. */
export function hasRunToken(
  headers: Readonly<Record<string, string | string[] | undefined>>,
  token: string,
): boolean {
  const given = headers[TOKEN_HEADER];
  if (typeof given !== "string") return false;
  const actual = Buffer.from(given);
  const expected = Buffer.from(token);
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}
