import type { APIGatewayProxyStructuredResultV2 } from "aws-lambda";
import { hasRunToken, TOKEN_HEADER } from "../../devkit/run-state";
import type { Config } from "../core/config";
import type { QueueMessage } from "../core/job";
import type { LocalBridge } from "./bridge";
import type { LocalPage } from "./local-routes";

/**
 * What the `hookline` CLI asks of the local run that only the running process holds: its
 * in-process dead-letter queue and the simulator's memory of each user's week. Served under
 * `/_local/` by the local server only (never the Lambdas); each request must carry the run's
 * token (`x-hookline-token`), which the CLI reads from the run file and no other site can know.
 *
 * - `GET  /_local/run`: this process's id, so the CLI can check the run file names it.
 * - `GET  /_local/dead-letters`: the dead letters (event, reason).
 * - `POST /_local/dead-letters/replay[?event=<source>:<id>]`: back to the queue, all or one event's.
 * - `POST /_local/simulator/forget?user=<id>`: the simulated portal forgets the user's week.
 */
export function makeLocalAdmin(options: {
  config: Config;
  bridge: Omit<LocalBridge, "close">;
}): LocalPage {
  const { config, bridge } = options;
  return async (event) => {
    const path = event.rawPath;
    if (!path.startsWith("/_local/")) return undefined;
    if (!hasRunToken(event.headers, bridge.token))
      return json(403, {
        error: `the hookline CLI sends the run's token (${TOKEN_HEADER} header)`,
      });
    const method = event.requestContext.http.method;
    const query = new URLSearchParams(event.rawQueryString);

    if (method === "GET" && path === "/_local/run") return json(200, { pid: process.pid });
    if (method === "GET" && path === "/_local/dead-letters") {
      return json(200, {
        deadLetters: bridge.queue.deadLetters.map((letter) => ({
          ...describe(letter.body),
          reason: letter.reason ?? "",
        })),
      });
    }
    if (method === "POST" && path === "/_local/dead-letters/replay") {
      const only = query.get("event");
      if (only === null) return json(200, { moved: bridge.queue.redriveDeadLetters() });
      return json(200, { moved: await replayEvent(only) });
    }
    if (method === "POST" && path === "/_local/simulator/forget") {
      const userId = Number(query.get("user"));
      if (!Number.isSafeInteger(userId) || userId <= 0)
        return json(400, { error: "user must be a positive integer" });
      if (bridge.simulators.size === 0) return json(200, { forgotten: false, simulator: false });
      for (const portal of config.portals) {
        for (const code of Object.values(portal.openLines)) {
          bridge.simulators.get(portal.id)?.forgetUser(code, userId);
        }
      }
      return json(200, { forgotten: true, simulator: true });
    }
    return json(404, { error: "not_found", message: "no such local endpoint" });
  };

  /** Moves one event's dead letters (one per route) back to the queue; the rest stay. */
  async function replayEvent(sourceAndId: string): Promise<number> {
    const letters = bridge.queue.deadLetters;
    const matching = letters.filter((letter) => {
      const job = describe(letter.body);
      return `${job.sourceId}:${job.eventId}` === sourceAndId;
    });
    for (const letter of matching) letters.splice(letters.indexOf(letter), 1);
    // The bodies go back as they were, as SQS's redrive moves them: deliver reads every version.
    const jobs = matching.map((letter) => JSON.parse(letter.body) as QueueMessage);
    if (jobs.length > 0) await bridge.queue.enqueue(jobs);
    return jobs.length;
  }
}

/** The facts of a dead letter's job, whatever its kind; empty for a body that is not a job. */
function describe(body: string): {
  sourceId?: string;
  eventId?: string;
  eventName?: string;
  jobId?: string;
  kind?: string;
} {
  try {
    const value = JSON.parse(body) as Record<string, unknown>;
    const pick = (key: string) =>
      typeof value[key] === "string" ? { [key]: value[key] as string } : {};
    return {
      ...pick("jobId"),
      ...pick("sourceId"),
      ...pick("eventId"),
      ...pick("eventName"),
      ...pick("kind"),
    };
  } catch {
    return {};
  }
}

function json(statusCode: number, body: unknown): APIGatewayProxyStructuredResultV2 {
  return {
    statusCode,
    headers: { "content-type": "application/json", "cache-control": "no-store" },
    body: JSON.stringify(body),
  };
}
