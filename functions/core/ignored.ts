import type { Config } from "./config";
import { patternToRegExp } from "./routes";

/**
 * Why no route took a verified event, for the `ignored` answer and the local run's terminal line:
 * routes whose events match but whose condition was false (the only other way a matching route
 * yields nothing), else the event names the source's routes listen to.
 *
 * @example
 * ignoredReason(config, "github", "pull_request.closed")
 * // "route 2 matches the event but its condition is false"
 */
export function ignoredReason(
  config: Pick<Config, "routes">,
  sourceId: string,
  eventName: string,
): string {
  const routes = config.routes
    .map((route, index) => ({ route, index }))
    .filter(({ route }) => route.source === sourceId);
  const matching = routes.filter(({ route }) =>
    route.events.some((pattern) => patternToRegExp(pattern).test(eventName)),
  );
  if (matching.length === 1)
    return `route ${matching[0]?.index} matches the event but its condition is false`;
  if (matching.length > 1)
    return `routes ${matching.map(({ index }) => index).join(", ")} match the event but their conditions are false`;
  const expected = [...new Set(routes.flatMap(({ route }) => route.events))];
  return expected.length === 0
    ? `no route for source ${sourceId}`
    : `no route matches ${eventName}; routes expect ${expected.join(", ")}`;
}
