import { randomBytes } from "node:crypto";
import type { APIGatewayProxyStructuredResultV2 } from "aws-lambda";
import { sendEvent } from "../../../cli/commands/send";
import { signingSecret } from "../../../cli/config";
import { pendingDigests } from "../../../cli/pending-digests";
import { buildSample } from "../../../cli/samples";
import { makeDynamoOutcomeStore } from "../../adapters/dynamo/outcomes";
import type { Config } from "../../core/config";
import type { LocalBridge } from "../bridge";
import type { LocalPage } from "../local-routes";
import { hasRunToken } from "../run-state";
import { type InboxState, type PortalMessage, renderPage, renderSections } from "./page";

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

/**
 * `GET /_inbox` on the local server only (bin/local.ts wires it; the Lambdas never see it):
 * recent requests with answers and outcomes, pending digests with due times, and every message
 * the simulator received, drawn as Bitrix24 draws it. `POST /_inbox/send/<source>` sends a
 * sample through the same code as `hookline send`.
 */
export function makeInbox(options: InboxOptions): LocalPage {
  const { config, bridge } = options;
  const now = options.now ?? (() => new Date());
  const outcomes = makeDynamoOutcomeStore(bridge.dynamo, options.tableName);

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
    };
  }

  return async (event) => {
    const path = event.rawPath;
    if (path !== "/_inbox" && !path.startsWith("/_inbox/")) return undefined;
    const method = event.requestContext.http.method;
    if (method === "GET" && (path === "/_inbox" || path === "/_inbox/")) {
      const nonce = randomBytes(16).toString("base64");
      return html(renderPage(await state(), nonce, bridge.token), nonce);
    }
    if (method === "GET" && path === "/_inbox/sections") return html(renderSections(await state()));
    if (method === "GET" && path === "/_inbox/state.json") return json(200, await state());
    const send = SEND_PATH.exec(path);
    if (method === "POST" && send?.[1]) {
      if (event.headers[PAGE_HEADER] !== "1" || !hasRunToken(event.headers, bridge.token))
        return json(403, { error: `send samples from the inbox page (${PAGE_HEADER} header)` });
      return sendSample(decodeURIComponent(send[1]));
    }
    return json(404, { error: "not_found", message: "no such inbox page" });
  };

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

/** Every simulated portal's messages, newest first; undefined when no portal is simulated. */
function simulatedMessages(bridge: InboxOptions["bridge"]): PortalMessage[] | undefined {
  if (bridge.simulators.size === 0) return undefined;
  return [...bridge.simulators]
    .flatMap(([portal, simulator]) =>
      simulator.messages
        .slice()
        .reverse()
        .map((message) => ({ ...message, portal })),
    )
    .sort((a, b) => b.at - a.at);
}

/** The page's own script and style only (nonce); images from http(s); nothing else loads. */
function html(body: string, nonce?: string): APIGatewayProxyStructuredResultV2 {
  const scripts = nonce ? `'nonce-${nonce}'` : "'none'";
  return {
    statusCode: 200,
    headers: {
      "content-type": "text/html; charset=utf-8",
      "cache-control": "no-store",
      "x-content-type-options": "nosniff",
      "content-security-policy": `default-src 'none'; script-src ${scripts}; style-src ${scripts}; style-src-attr 'unsafe-inline'; img-src http: https:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
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
