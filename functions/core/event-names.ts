import type { Config } from "./config";
import { patternToRegExp } from "./routes";

/**
 * Warnings for route event names that the source type never sends, e.g. a Stripe route on
 * `invoice.payment_faild`: such a route would answer `ignored` to every webhook without a sign.
 * Pure over the name lists; `cli/sender-event-names.ts` reads the senders' own lists for
 * `npm start` and `hookline check` (the Lambda handlers never import either).
 */

/** The event names each sender documents, by source type (types without a list are not checked). */
export type KnownEventNames = Partial<Record<Config["sources"][number]["type"], readonly string[]>>;

/**
 * One line per route event pattern that matches no event its source type sends, with the
 * closest real name when there is one. Pure over `known`.
 *
 * @example
 * unknownEventWarnings(config, senderEventNames())
 * // ['routes[1].events[0]: stripe sends no "invoice.payment_faild" event; did you mean "invoice.payment_failed"?']
 */
export function unknownEventWarnings(
  config: Pick<Config, "sources" | "routes">,
  known: KnownEventNames,
): string[] {
  const types = new Map(config.sources.map((source) => [source.id, source.type]));
  const warnings: string[] = [];
  config.routes.forEach((route, routeIndex) => {
    const type = types.get(route.source);
    const names = type === undefined ? undefined : known[type];
    if (!type || !names) return;
    route.events.forEach((pattern, eventIndex) => {
      const key = `routes[${routeIndex}].events[${eventIndex}]`;
      const problem = checkPattern(pattern, type, names);
      if (problem) warnings.push(`${key}: ${problem}`);
    });
  });
  return warnings;
}

function checkPattern(pattern: string, type: string, names: readonly string[]): string | undefined {
  const matcher = patternToRegExp(pattern);
  if (names.some((name) => matcher.test(name))) {
    // GitHub names an event with an action `event.action`: a bare `issues` never matches those.
    const withAction = names.filter((name) => name.startsWith(`${pattern}.`));
    if (type === "github" && !pattern.includes("*") && withAction.length > 0) {
      return `GitHub ${pattern} events carry an action and are named "${pattern}.<action>"; use "${pattern}.*" or e.g. "${withAction[0]}"`;
    }
    return undefined;
  }
  const what = pattern.includes("*")
    ? `matches no ${type} event`
    : `${type} sends no "${pattern}" event`;
  const suggestion = pattern.includes("*") ? undefined : closest(pattern, names);
  return suggestion ? `${what}; did you mean "${suggestion}"?` : what;
}

/** The known name nearest to `name` by edit distance, when it is near enough to be a typo. */
export function closest(name: string, names: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(name.length / 4)) + 1;
  for (const candidate of names) {
    if (Math.abs(candidate.length - name.length) >= bestDistance) continue;
    const distance = editDistance(name, candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/** Levenshtein distance, two rows at a time. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution);
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}
