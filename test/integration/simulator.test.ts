import { describe, expect, it } from "vitest";
import { startBitrixSimulator } from "../../functions/local/bitrix-simulator";
import { useStarted } from "../support/use-started";

/**
 * The simulator answers imopenlines.network.message.add as Bitrix24 does in 2026
 * (docs/bitrix24.md): the server's order of checks, the week row only
 * after a success, the 2026 error codes, and the faults a gateway adds. Raw HTTP, as a portal
 * would be called, so the answers are the simulator's own and not a client's reading of them.
 */

const LINE = "ab515f5d85a8b844d484f6ea75a2e494";
const NEVER_JOINED = "0123456789abcdef0123456789abcdef";
const METHOD = "imopenlines.network.message.add";

interface Call {
  status: number;
  body: unknown;
  text: string;
  contentType: string;
}

let nextUser = 5000;
const fresh = () => nextUser++;

describe("the simulator as Bitrix24 answers in 2026", () => {
  const sim = useStarted("the simulator", () =>
    startBitrixSimulator({
      openLineCodes: [LINE],
      rateLimit: { burst: 1000, perSecond: 1000 },
      oauth: { clientId: "app", clientSecret: "secret", refreshToken: "rt" },
    }),
  );

  async function call(params: Record<string, unknown>, path = `${sim.webhookUrl}${METHOD}`) {
    const res = await fetch(path, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(params),
    });
    const text = await res.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    return {
      status: res.status,
      body,
      text,
      contentType: res.headers.get("content-type") ?? "",
    } satisfies Call;
  }
  const control = (path: string, body: unknown) =>
    fetch(`${sim.origin}/_simulator/${path}`, { method: "POST", body: JSON.stringify(body) });
  const errorOf = (answer: Call) => (answer.body as { error?: string } | undefined)?.error;
  /**
   * Calls the method once with `params` on a portal changed to `traits` (`changed`: the control
   * endpoint's answer), then changes it back to `restore`.
   */
  async function callOnPortal(
    traits: Record<string, unknown>,
    restore: Record<string, unknown>,
    params: Record<string, unknown>,
  ): Promise<{ changed: Response; answer: Call }> {
    const changed = await control("portal", traits);
    try {
      return { changed, answer: await call(params) };
    } finally {
      await control("portal", restore);
    }
  }

  describe("order of checks", () => {
    it("session (browser) auth is WRONG_AUTH_TYPE (403), before the code is looked at", async () => {
      const answer = await call(
        { CODE: "short", USER_ID: fresh(), MESSAGE: "hi", sessid: "abc123" },
        `${sim.origin}/rest/${METHOD}`,
      );
      expect(answer.status).toBe(403);
      expect(errorOf(answer)).toBe("WRONG_AUTH_TYPE");
    });

    it("a code that is not 32 characters is CODE, before the imbot module", async () => {
      const { changed, answer } = await callOnPortal(
        { imbot: false },
        { imbot: true },
        { CODE: "short", USER_ID: fresh(), MESSAGE: "hi" },
      );
      expect(changed).toHaveProperty("status", 200);
      expect([answer.status, errorOf(answer)]).toEqual([400, "CODE"]);
    });

    it("without the imbot module: IMBOT_ERROR, before the line is looked up", async () => {
      const { answer } = await callOnPortal(
        { imbot: false },
        { imbot: true },
        { CODE: NEVER_JOINED, USER_ID: fresh(), MESSAGE: "hi" },
      );
      expect([answer.status, errorOf(answer)]).toEqual([400, "IMBOT_ERROR"]);
    });

    it("a line never joined is NOT_FOUND (Line not found), before USER_ID", async () => {
      const answer = await call({ CODE: NEVER_JOINED, USER_ID: 0, MESSAGE: "hi" });
      expect(answer.status).toBe(400);
      expect(answer.body).toMatchObject({
        error: "NOT_FOUND",
        error_description: "Line not found",
      });
    });

    it("a user at the weekly limit gets USER_MESSAGE_LIMIT even for an invalid message", async () => {
      const userId = fresh();
      expect((await call({ CODE: LINE, USER_ID: userId, MESSAGE: "first" })).status).toBe(200);
      for (const invalid of [
        { MESSAGE: "  " },
        { MESSAGE: "x", ATTACH: 42 },
        { MESSAGE: "x", KEYBOARD: [{ TEXT: "Run", COMMAND: "run" }] },
      ]) {
        const answer = await call({ CODE: LINE, USER_ID: userId, ...invalid });
        expect([answer.status, errorOf(answer)]).toEqual([400, "USER_MESSAGE_LIMIT"]);
      }
    });
  });

  describe("the week row is written only after a success", () => {
    it.each([
      ["MESSAGE_EMPTY", { MESSAGE: " " }],
      ["ATTACH_ERROR", { MESSAGE: "x", ATTACH: 42 }],
      ["KEYBOARD_ERROR", { MESSAGE: "x", KEYBOARD: [{ TEXT: "Run", COMMAND: "run" }] }],
    ])("a send refused with %s uses no quota", async (code, params) => {
      const userId = fresh();
      const refused = await call({ CODE: LINE, USER_ID: userId, ...params });
      expect([refused.status, errorOf(refused)]).toEqual([400, code]);
      expect((await call({ CODE: LINE, USER_ID: userId, MESSAGE: "then this" })).status).toBe(200);
    });

    it("a send that fails inside the server is WRONG_REQUEST and uses no quota", async () => {
      const userId = fresh();
      const before = sim.messages.length;
      sim.inject({ sendFails: true });
      const failed = await call({ CODE: LINE, USER_ID: userId, MESSAGE: "lost" });
      expect([failed.status, errorOf(failed)]).toEqual([400, "WRONG_REQUEST"]);
      expect(sim.messages).toHaveLength(before);
      expect((await call({ CODE: LINE, USER_ID: userId, MESSAGE: "again" })).status).toBe(200);
    });
  });

  describe("2026 error codes", () => {
    it("an older portal answers a wrong code with CODE_ERROR", async () => {
      const { answer } = await callOnPortal(
        { olderErrorCodes: true },
        { olderErrorCodes: false },
        { CODE: "short", USER_ID: fresh(), MESSAGE: "hi" },
      );
      expect([answer.status, errorOf(answer)]).toEqual([400, "CODE_ERROR"]);
    });

    it("a large keyboard is not KEYBOARD_OVERSIZE: that code is the imbot methods'", async () => {
      const answer = await call({
        CODE: LINE,
        USER_ID: fresh(),
        MESSAGE: "x",
        KEYBOARD: [{ TEXT: "x".repeat(31 * 1024), LINK: "https://example.com" }],
      });
      expect(errorOf(answer)).not.toBe("KEYBOARD_OVERSIZE");
    });
  });

  describe("gateway answers after the method ran", () => {
    it.each([502, 504, 500])(
      "%i with an HTML page: the message landed, and the week is used",
      async (status) => {
        const userId = fresh();
        expect(await control("faults", [{ status, ran: true }]).then((res) => res.status)).toBe(
          200,
        );
        const answer = await call({ CODE: LINE, USER_ID: userId, MESSAGE: `ran, then ${status}` });
        expect(answer.status).toBe(status);
        expect(answer.contentType).toMatch(/^text\/html/);
        expect(answer.body).toBeUndefined();
        expect(sim.messages.at(-1)).toMatchObject({ userId, message: `ran, then ${status}` });
        const retry = await call({ CODE: LINE, USER_ID: userId, MESSAGE: "retry" });
        expect([retry.status, errorOf(retry)]).toEqual([400, "USER_MESSAGE_LIMIT"]);
      },
    );

    it("after a refused method, the gateway error hides the refusal and nothing landed", async () => {
      const before = sim.messages.length;
      sim.inject({ status: 502, ran: true });
      const answer = await call({ CODE: LINE, USER_ID: fresh(), MESSAGE: " " });
      expect(answer.status).toBe(502);
      expect(sim.messages).toHaveLength(before);
    });
  });

  describe("the OAuth server", () => {
    const refresh = async (refreshToken: string) => {
      const url = new URL("/oauth/token/", sim.origin);
      for (const [name, value] of Object.entries({
        grant_type: "refresh_token",
        client_id: "app",
        client_secret: "secret",
        refresh_token: refreshToken,
      })) {
        url.searchParams.set(name, value);
      }
      const res = await fetch(url);
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };

    it("rotates the refresh token on every refresh and refuses a spent one with invalid_grant", async () => {
      const initial = sim.oauth?.currentRefreshToken() ?? "";
      const first = await refresh(initial);
      expect(first.status).toBe(200);
      const rotated = String(first.body.refresh_token);
      expect(typeof first.body.access_token).toBe("string");

      const spent = await refresh(initial);
      expect(spent).toEqual({
        status: 400,
        body: { error: "invalid_grant", error_description: "Invalid refresh token" },
      });
      const second = await refresh(rotated);
      expect(second.status).toBe(200);
      // The one before is spent now too.
      expect((await refresh(rotated)).body.error).toBe("invalid_grant");
    });
  });

  describe("OVERLOAD_LIMIT", () => {
    it("a portal blocked by Bitrix24 support answers 503 OVERLOAD_LIMIT until lifted, running nothing", async () => {
      const userId = fresh();
      const before = sim.messages.length;
      expect((await control("portal", { overloaded: true })).status).toBe(200);
      for (let i = 0; i < 3; i++) {
        const answer = await call({ CODE: LINE, USER_ID: userId, MESSAGE: "blocked" });
        expect([answer.status, errorOf(answer)]).toEqual([503, "OVERLOAD_LIMIT"]);
      }
      expect(sim.messages).toHaveLength(before);
      await control("portal", { overloaded: false });
      expect((await call({ CODE: LINE, USER_ID: userId, MESSAGE: "lifted" })).status).toBe(200);
    });

    it("the portal control refuses what it does not know", async () => {
      expect((await control("portal", { imbot: "no" })).status).toBe(400);
      expect((await control("portal", { weekly: false })).status).toBe(400);
    });
  });
});
