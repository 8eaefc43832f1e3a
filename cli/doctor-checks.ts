import type { StoredTokens } from "../functions/core/ports";

/**
 * What `hookline doctor` concludes from a portal's answers: pure functions from an answer (or
 * stored tokens) and the config to one check line, ✓ or ✗ with the fix. The command
 * (cli/commands/doctor.ts) makes the calls; these decide, so they are tested as tables.
 */

export interface DoctorCheck {
  portal: string;
  /** `reach`, `clock`, `scope`, `line <name>`, `rate`, `oauth`. */
  check: string;
  ok: boolean;
  detail: string;
  /** What to do, on a failed check. */
  fix?: string;
}

/** One REST call's outcome: an answer (any status), or no answer at all. */
export type RestAnswer =
  | {
      kind: "answer";
      status: number;
      body: unknown;
      /** Our clock when the request went out and when the answer came (ms). */
      sentAt: number;
      receivedAt: number;
      /** `Location` of a 3xx. */
      location?: string;
    }
  | { kind: "unreachable"; reason: string };

/** Bitrix24's plans' leaky buckets (reference: docs/ and the REST limits page). */
export const PLANS = {
  standard: { burst: 50, perSecond: 2 },
  enterprise: { burst: 250, perSecond: 5 },
} as const;
export type Plan = keyof typeof PLANS;

/** The documented cloud operating limit: seconds of one method's run time per 10 minutes. */
const OPERATING_LIMIT_SECONDS = 480;
/** A refresh token lives 180 days from its last use. */
const REFRESH_TOKEN_DAYS = 180;
const DAY_MS = 86_400_000;

type Check = Omit<DoctorCheck, "portal">;

const fail = (check: string, detail: string, fix: string): Check => ({
  check,
  ok: false,
  detail,
  fix,
});
const pass = (check: string, detail: string): Check => ({ check, ok: true, detail });

/** `{error, error_description}` of a Bitrix24 error answer. */
export function errorOf(body: unknown): { code: string; description: string } | undefined {
  if (typeof body !== "object" || body === null || !("error" in body)) return undefined;
  const record = body as { error: unknown; error_description?: unknown };
  return {
    code: String(record.error),
    description: typeof record.error_description === "string" ? record.error_description : "",
  };
}

const resultOf = (body: unknown): unknown =>
  typeof body === "object" && body !== null && "result" in body
    ? (body as { result: unknown }).result
    : undefined;

/**
 * Does the URL answer as a Bitrix24 REST endpoint, with our credentials? From `server.time`.
 * `where` names the portal's host (never the webhook URL, which is a secret).
 */
export function reachCheck(answer: RestAnswer, where: string, oauth: boolean): Check {
  const credential = oauth ? "the app's access token" : "the incoming webhook";
  if (answer.kind === "unreachable") {
    return fail(
      "reach",
      `${where} does not answer (${answer.reason})`,
      oauth
        ? "check the portal's url in the config (https://<portal>.bitrix24.<zone>)"
        : "check the webhook URL's host: copy it again from Bitrix24 (Developer resources → Other → Incoming webhook)",
    );
  }
  if (answer.status >= 300 && answer.status < 400) {
    return fail(
      "reach",
      `${where} answers ${answer.status}, moved to ${answer.location ? new URL(answer.location, "https://x").host : "another address"}`,
      "the portal's address changed: put the new one in the config",
    );
  }
  const error = errorOf(answer.body);
  if (answer.status === 401 || answer.status === 403) {
    return fail(
      "reach",
      `${where} refuses ${credential} (${answer.status} ${error?.code ?? ""})`.trim(),
      oauth
        ? "give the app new tokens: hookline oauth <portal> --code <code from a fresh install>"
        : "the webhook was deleted or its code changed: create an incoming webhook with the imopenlines scope and put its URL in the secret",
    );
  }
  if (answer.status !== 200 || typeof resultOf(answer.body) !== "string") {
    return fail(
      "reach",
      `${where} answers ${answer.status}${error ? ` ${error.code}` : ""}, not as a Bitrix24 REST API`,
      "check that the URL is the portal's REST address (…/rest/<user>/<code>/ for a webhook)",
    );
  }
  return pass("reach", `${where} answers with ${credential}`);
}

/**
 * Our clock against the portal's, from `server.time` (the answer's middle is the best guess of
 * when the server read its clock). The weekly ledger waits `weekMarginSeconds` beyond its week
 * for exactly this difference.
 */
export function clockCheck(answer: RestAnswer, weekMarginSeconds: number): Check | undefined {
  if (answer.kind !== "answer" || answer.status !== 200) return undefined;
  const serverTime = resultOf(answer.body);
  const server = typeof serverTime === "string" ? Date.parse(serverTime) : Number.NaN;
  if (Number.isNaN(server)) return undefined;
  const ours = (answer.sentAt + answer.receivedAt) / 2;
  // The server writes whole seconds: a second of difference is no skew.
  const skewSeconds = Math.round((ours - server) / 1000);
  const abs = Math.abs(skewSeconds);
  const described =
    abs <= 1
      ? "our clock and the portal's agree"
      : `our clock is ${abs} s ${skewSeconds > 0 ? "ahead of" : "behind"} the portal's`;
  if (abs >= weekMarginSeconds) {
    return fail(
      "clock",
      `${described}, more than the ${weekMarginSeconds} s margin the weekly ledger allows`,
      "synchronise this machine's clock (NTP), or raise the portal's weekMarginSeconds above the skew",
    );
  }
  return pass("clock", `${described} (margin ${weekMarginSeconds} s)`);
}

/** The scopes the `scope` method lists against what the routes need. */
export function scopeCheck(answer: RestAnswer, needed: readonly string[], oauth: boolean): Check {
  const scopes = answer.kind === "answer" ? resultOf(answer.body) : undefined;
  if (!Array.isArray(scopes)) {
    return fail(
      "scope",
      `the portal did not list the scopes (${describe(answer)})`,
      "check the webhook or app in Bitrix24",
    );
  }
  const missing = needed.filter((scope) => !scopes.includes(scope));
  if (missing.length > 0) {
    return fail(
      "scope",
      `missing scope ${missing.join(", ")} (has: ${scopes.join(", ") || "none"})`,
      oauth
        ? `add ${missing.join(", ")} to the app's scopes in Bitrix24, reinstall it, then hookline oauth <portal> --code <code>`
        : `edit the incoming webhook in Bitrix24 and tick ${missing.join(", ")} (the URL stays the same)`,
    );
  }
  return pass("scope", `has ${needed.join(", ")}`);
}

/**
 * Is the open line joined to the portal? From `imopenlines.network.message.add` without a
 * user: the server checks the line before the user, so `USER_ID_EMPTY` means joined and
 * `NOT_FOUND` means not joined (or no such line), and nothing is sent either way.
 */
export function lineCheck(name: string, answer: RestAnswer): Check {
  const check = `line ${name}`;
  const error = answer.kind === "answer" ? errorOf(answer.body) : undefined;
  if (error?.code === "USER_ID_EMPTY") return pass(check, "joined to the portal");
  if (error?.code === "NOT_FOUND") {
    return fail(
      check,
      "not joined to the portal (or no line has this code): messages answer NOT_FOUND",
      "run hookline doctor --join: it joins the line, or says whether the code exists and is active",
    );
  }
  if (error?.code === "CODE" || error?.code === "CODE_ERROR") {
    return fail(
      check,
      "the portal refuses the line's code as invalid",
      "copy the open line's 32-character code again (Contact Center → the line → Bitrix24.Network)",
    );
  }
  return fail(
    check,
    `unexpected answer to the line probe (${describe(answer)})`,
    "see the answer above; the imopenlines scope is needed",
  );
}

/** What `imopenlines.network.join` answered (with `--join`). */
export function joinCheck(name: string, answer: RestAnswer): Check {
  const check = `line ${name}`;
  const bot = answer.kind === "answer" ? resultOf(answer.body) : undefined;
  if (answer.kind === "answer" && answer.status === 200 && bot !== undefined && bot !== false) {
    return pass(check, `joined to the portal (the line's bot is ${String(bot)})`);
  }
  const error = answer.kind === "answer" ? errorOf(answer.body) : undefined;
  if (error?.code === "LINE_NOT_FOUND") {
    return fail(
      check,
      "no open line has this code on Bitrix24.Network",
      "copy the code again from the sending portal (Contact Center → the line → Bitrix24.Network), or publish the line there",
    );
  }
  if (error?.code === "INACTIVE") {
    return fail(
      check,
      "the open line exists but is not active",
      "activate the line in the sending portal's Contact Center, then run hookline doctor --join again",
    );
  }
  return fail(
    check,
    `join failed (${describe(answer)})`,
    "see the answer; the imopenlines scope is needed",
  );
}

/**
 * The portal's leaky bucket cannot be read from an answer (the `time` block carries only the
 * operating limit), so the plan is what the user says with `--plan`; without it, a config within
 * the standard plan's bucket is safe on every plan, and a larger one needs the user's word.
 */
export function rateCheck(
  rate: { burst: number; perSecond: number },
  plan: Plan | undefined,
  answer: RestAnswer,
): Check {
  const configured = `paced at ${rate.perSecond}/s, burst ${rate.burst}`;
  const time = timeBlockOf(answer);
  const operating =
    time?.operating !== undefined
      ? `; operating time ${time.operating} s of ${OPERATING_LIMIT_SECONDS} s per 10 minutes used`
      : "";
  const limit = PLANS[plan ?? "standard"];
  if (rate.perSecond > limit.perSecond || rate.burst > limit.burst) {
    return fail(
      "rate",
      `${configured}, above the ${plan ?? "standard"} plan's bucket (${limit.perSecond}/s, burst ${limit.burst})`,
      plan
        ? `lower the portal's rateLimit to ${JSON.stringify(limit)}`
        : `if the portal is on Enterprise, confirm with --plan enterprise; otherwise set rateLimit to ${JSON.stringify(limit)}`,
    );
  }
  if (time?.operating !== undefined && time.operating >= OPERATING_LIMIT_SECONDS * 0.8) {
    return fail(
      "rate",
      `${configured}${operating}`,
      "another app or webhook uses most of the portal's operating time: expect 429 OPERATION_TIME_LIMIT",
    );
  }
  return pass("rate", `${configured}, within the ${plan ?? "standard"} plan's bucket${operating}`);
}

/**
 * An OAuth portal's stored tokens: refresh failing, the refresh token's age against its 180 days
 * and the keep-alive the config asks for.
 */
export function tokenCheck(
  tokens: StoredTokens | undefined,
  now: number,
  keepAliveDays: number,
  portalId: string,
): Check {
  const reauthorize = `hookline oauth ${portalId} --code <code from a fresh install of the app>`;
  if (!tokens) {
    return fail(
      "oauth",
      "no tokens stored yet",
      `hookline seeds them from the configured refresh token at the first message; to check now: hookline oauth ${portalId} --refresh-token <token>`,
    );
  }
  if (tokens.lastError) {
    const since = tokens.failingSince
      ? ` since ${new Date(tokens.failingSince).toISOString()}`
      : "";
    return fail("oauth", `refreshing fails${since}: ${tokens.lastError}`, reauthorize);
  }
  const lastUse = tokens.refreshedAt;
  if (lastUse === 0) return pass("oauth", "a refresh token is stored; it has not been used yet");
  const ageDays = (now - lastUse) / DAY_MS;
  const age = ageDays < 1 ? `${Math.round(ageDays * 24)} h` : `${Math.floor(ageDays)} days`;
  if (ageDays >= REFRESH_TOKEN_DAYS) {
    return fail(
      "oauth",
      `the refresh token was last renewed ${age} ago: it has run out`,
      reauthorize,
    );
  }
  if (ageDays > keepAliveDays * 2) {
    return fail(
      "oauth",
      `the tokens were last refreshed ${age} ago, though keep-alive asks every ${keepAliveDays} days`,
      "check that hookline's sweep runs (it refreshes idle portals); the token dies after 180 days unused",
    );
  }
  return pass("oauth", `tokens refreshed ${age} ago, refreshing works`);
}

function timeBlockOf(answer: RestAnswer): { operating?: number } | undefined {
  if (answer.kind !== "answer" || typeof answer.body !== "object" || answer.body === null)
    return undefined;
  const time = (answer.body as { time?: unknown }).time;
  if (typeof time !== "object" || time === null) return undefined;
  const operating = (time as { operating?: unknown }).operating;
  return typeof operating === "number" ? { operating } : {};
}

function describe(answer: RestAnswer): string {
  if (answer.kind === "unreachable") return answer.reason;
  const error = errorOf(answer.body);
  return `${answer.status}${error ? ` ${error.code}` : ""}`;
}
