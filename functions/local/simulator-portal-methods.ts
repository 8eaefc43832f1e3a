import { insufficientScope, type MethodAnswer, methodError } from "./simulator-answers";

/**
 * The simulated portal's methods besides `imopenlines.network.message.add`: the ones
 * `hookline doctor` calls to look at a portal (`server.time`, `scope`) and the one that connects
 * an open line to it (`imopenlines.network.join`). Kept apart from the message method so the
 * simulator's dispatcher only routes to them. Answers as docs/bitrix24.md describes them.
 */

export interface NetworkLine {
  /** The line's 32-character code. */
  code: string;
  /** An inactive line refuses to be joined (`INACTIVE`); default true. */
  active?: boolean;
}

export interface PortalMethodsOptions {
  /** Lines joined from the start (the simulator's `openLineCodes`); `join` adds to this set. */
  joined: Set<string>;
  /** Lines that exist on the network but are not joined yet. */
  networkLines: readonly NetworkLine[];
  /** What `scope` answers: the webhook's or app's scopes. */
  scopes: readonly string[];
}

type Method = (params: Record<string, unknown>, at: number) => MethodAnswer;

/**
 * The methods by lower-case name, each `(params, now) -> answer`; the simulator adds the `time`
 * block and the leaky bucket as for any method.
 *
 * @example const methods = portalMethods({ joined, networkLines: [], scopes: ["imopenlines"] });
 */
export function portalMethods(options: PortalMethodsOptions): Record<string, Method> {
  const { joined } = options;
  // A line's bot id, stable per code, as the real join returns it.
  const botIds = new Map<string, number>();
  const botId = (code: string) => {
    const known = botIds.get(code);
    if (known !== undefined) return known;
    const id = 1000 + botIds.size;
    botIds.set(code, id);
    return id;
  };
  return {
    "server.time": (_params, at) => ({ status: 200, body: { result: isoSeconds(at) } }),
    scope: () => ({ status: 200, body: { result: [...options.scopes] } }),
    "imopenlines.network.join": (params) => {
      if (!options.scopes.includes("imopenlines")) return insufficientScope();
      const code = params.CODE;
      if (typeof code !== "string" || [...code].length !== 32) {
        return methodError("CODE", "You entered an invalid code");
      }
      if (joined.has(code)) return { status: 200, body: { result: botId(code) } };
      const line = options.networkLines.find((candidate) => candidate.code === code);
      if (!line) return methodError("LINE_NOT_FOUND", "Line not found");
      if (line.active === false) return methodError("INACTIVE", "Line is not active");
      joined.add(code);
      return { status: 200, body: { result: botId(code) } };
    },
  };
}

/** `2026-12-04T03:00:00+00:00`: how the portal writes a time. */
const isoSeconds = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "+00:00");
