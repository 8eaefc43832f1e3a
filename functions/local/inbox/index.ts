import { randomBytes } from "node:crypto";
import type { APIGatewayProxyStructuredResultV2 } from "aws-lambda";
import { signingSecret } from "../../../devkit/dev-secrets";
import { pendingDigests } from "../../../devkit/pending-digests";
import { hasRunToken } from "../../../devkit/run-state";
import { buildSample } from "../../../devkit/samples";
import { answerOf, sendEvent } from "../../../devkit/send-event";
import { makeDynamoOutcomeStore } from "../../adapters/dynamo/outcomes";
import type { Config } from "../../core/config";
import type { BitrixSimulator } from "../bitrix-simulator";
import type { LocalBridge } from "../bridge";
import type { LocalPage } from "../local-routes";
import { showRequest } from "./mask";
import {
  type InboxState,
  type PortalMessage,
  type PortalNotification,
  renderPage,
  renderSections,
} from "./page";

export interface InboxOptions {
  config: Config;
  /** Where the sources' `env:` secrets are read, as the local server reads them. */
  env: Readonly<Record<string, string | undefined>>;
  tableName: string;
  bridge: Omit<LocalBridge, "close">;
  now?: () => Date;
}

/** Requests from the page carry this header: a cross-site form cannot, so it cannot send samples. */
const PAGE_HEADER = "x-hookline-inbox";
const SEND_PATH = /^\/_inbox\/send\/([^/]+)$/;
const REQUEST_PATH = /^\/_inbox\/requests\/(\d+)$/;
const REPLAY_PATH = /^\/_inbox\/replay\/(\d+)$/;
/**
 * Headers that belong to one connection, not to the request: a replay sets its own. fetch
 * refuses to send `expect` (curl sends `Expect: 100-continue` with a large body) and `upgrade`.
 */
const HOP_BY_HOP = new Set([
  "host",
  "connection",
  "content-length",
  "transfer-encoding",
  "keep-alive",
  "expect",
  "upgrade",
]);

/**
 * `GET /_inbox` on the local server only (bin/local.ts wires it; the Lambdas never see it):
 * recent requests with answers and outcomes, pending digests with due times, and every message
 * the simulator received, drawn as Bitrix24 draws it. `POST /_inbox/send/<source>` sends a
 * sample through the same code as `hookline send`. `GET /_inbox/requests/<seq>` shows a stored
 * request (secrets masked); `POST /_inbox/replay/<seq>` posts it again through the normal path.
 */
export function makeInbox(options: InboxOptions): LocalPage {
  const { config, bridge } = options;
  const now = options.now ?? (() => new Date());
  const outcomes = makeDynamoOutcomeStore(bridge.dynamo, options.tableName);
  // A generic HMAC source's signature header may be named anything: masked by name too.
  const signatureHeaders = new Set(
    config.sources.flatMap((source) => (source.type === "hmac" ? [source.header] : [])),
  );

  async function state(): Promise<InboxState> {
    let digests: InboxState["digests"] = [];
    try {
      digests = await pendingDigests(outcomes, now());
    } catch {
      // The page stays useful while the store is unreachable; the terminal says why.
    }
    return {
      sources: config.sources.map((source) => ({ id: source.id, type: source.type })),
      requests: bridge.requestLog.recent(),
      digests,
      messages: simulatedMessages(bridge),
      notifications: simulatedNotifications(bridge),
    };
  }

  return async (event) => {
    const path = event.rawPath;
    const method = event.requestContext.http.method;
    // Browsers ask for it with every page: an answer here keeps it out of the request log.
    if (method === "GET" && path === "/favicon.ico") {
      return { statusCode: 204, headers: { "cache-control": "max-age=86400" } };
    }
    if (path !== "/_inbox" && !path.startsWith("/_inbox/")) return undefined;
    if (method === "GET" && (path === "/_inbox" || path === "/_inbox/")) {
      const nonce = randomBytes(16).toString("base64");
      return html(renderPage(await state(), nonce, bridge.token), nonce);
    }
    if (method === "GET" && path === "/_inbox/sections") return html(renderSections(await state()));
    if (method === "GET" && path === "/_inbox/state.json") return json(200, await state());
    const shown = REQUEST_PATH.exec(path);
    if (method === "GET" && shown?.[1]) return openRequest(Number(shown[1]));
    const send = SEND_PATH.exec(path);
    const replay = REPLAY_PATH.exec(path);
    if (method === "POST" && (send?.[1] || replay?.[1])) {
      if (event.headers[PAGE_HEADER] !== "1" || !hasRunToken(event.headers, bridge.token))
        return json(403, { error: `use the inbox page's buttons (${PAGE_HEADER} header)` });
      if (replay?.[1]) return replayRequest(Number(replay[1]));
      if (send?.[1]) return sendSample(decodeURIComponent(send[1]));
    }
    return json(404, { error: "not_found", message: "no such inbox page" });
  };

  function openRequest(seq: number): APIGatewayProxyStructuredResultV2 {
    const entry = bridge.requestLog.recent().find((request) => request.seq === seq);
    const raw = bridge.requestLog.raw(seq);
    if (!entry || !raw) return json(404, { error: `request ${seq} is no longer kept` });
    return json(200, {
      seq,
      method: entry.method,
      path: entry.path,
      ...showRequest(raw, signatureHeaders),
    });
  }

  /** The stored raw request, posted again to the server: ingest and its receipt decide. */
  async function replayRequest(seq: number): Promise<APIGatewayProxyStructuredResultV2> {
    const entry = bridge.requestLog.recent().find((request) => request.seq === seq);
    const raw = bridge.requestLog.raw(seq);
    if (!entry || !raw) return json(404, { error: `request ${seq} is no longer kept` });
    const headers = Object.entries(raw.headers).filter(([name]) => !HOP_BY_HOP.has(name));
    try {
      const response = await fetch(`${bridge.url}${entry.path}`, {
        method: entry.method,
        headers,
        ...(entry.method === "GET" || entry.method === "HEAD" ? {} : { body: raw.body }),
        signal: AbortSignal.timeout(15_000),
      });
      const answer = await answerOf(response);
      return json(200, { replayed: seq, path: entry.path, status: response.status, answer });
    } catch (error) {
      return json(500, { error: (error as Error).message });
    }
  }

  async function sendSample(sourceId: string): Promise<APIGatewayProxyStructuredResultV2> {
    const source = config.sources.find((candidate) => candidate.id === sourceId);
    if (!source) return json(404, { error: `no source "${sourceId}"` });
    try {
      const report = await sendEvent({
        config,
        source,
        secret: await signingSecret(config, source, options.env),
        event: buildSample(config, source),
        baseUrl: bridge.url,
        fetch,
        now: now(),
      });
      return json(200, report);
    } catch (error) {
      return json(500, { error: (error as Error).message });
    }
  }
}

/**
 * What every simulated portal holds of one kind (`pick`: its latest items, newest first where
 * their times tie), each marked with its portal, newest first; undefined when no portal is
 * simulated.
 */
function fromSimulators<T extends { at: number }>(
  bridge: InboxOptions["bridge"],
  pick: (simulator: BitrixSimulator) => readonly T[],
): (T & { portal: string })[] | undefined {
  if (bridge.simulators.size === 0) return undefined;
  return [...bridge.simulators]
    .flatMap(([portal, simulator]) => pick(simulator).map((item) => ({ ...item, portal })))
    .sort((a, b) => b.at - a.at)
    .slice(0, MAX_SHOWN_MESSAGES);
}

/** Every simulated portal's messages, newest first; undefined when no portal is simulated. */
const simulatedMessages = (bridge: InboxOptions["bridge"]): PortalMessage[] | undefined =>
  fromSimulators(bridge, (simulator) => simulator.messages.slice(-MAX_SHOWN_MESSAGES).reverse());

/** Every simulated portal's visible system notifications, newest first. */
const simulatedNotifications = (bridge: InboxOptions["bridge"]): PortalNotification[] | undefined =>
  fromSimulators(bridge, (simulator) => simulator.notifications.slice(-MAX_SHOWN_MESSAGES));

/** The inbox draws the newest messages only: a page, however long the run. */
const MAX_SHOWN_MESSAGES = 200;

/**
 * The page's own script and style only (nonce); no images (a sender's are drawn as
 * placeholders), nothing else loads.
 */
function html(body: string, nonce?: string): APIGatewayProxyStructuredResultV2 {
  const scripts = nonce ? `'nonce-${nonce}'` : "'none'";
  return {
    statusCode: 200,
    headers: {
      "content-type": "text/html; charset=utf-8",
      "cache-control": "no-store",
      "x-content-type-options": "nosniff",
      "content-security-policy": `default-src 'none'; script-src ${scripts}; style-src ${scripts}; style-src-attr 'unsafe-inline'; img-src 'none'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
    },
    body,
  };
}

function json(statusCode: number, body: unknown): APIGatewayProxyStructuredResultV2 {
  return {
    statusCode,
    headers: { "content-type": "application/json", "cache-control": "no-store" },
    body: JSON.stringify(body),
  };
}
