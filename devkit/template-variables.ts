import { Liquid } from "liquidjs";
import type { RouteConfig } from "../functions/core/config";

/**
 * What a route's templates read, found by LiquidJS's static analysis: for warnings about
 * variables that rendered empty (`payload.data.object.customer_emial`) and for placeholder
 * payloads. Analysis only; rendering stays with `functions/core/template.ts`.
 */

/** One template string of a route and the key naming it, e.g. `routes[2].attach[1].LINK.LINK`. */
export interface RouteTemplate {
  key: string;
  source: string;
}

/** A variable path with fixed segments only, e.g. `["payload", "items", 0, "id"]`. */
export type VariablePath = (string | number)[];

// Parsing only, never rendering: the default engine reads every filter name, known or not.
const analyser = new Liquid();

/** Every template string of a route: condition, userId, message, and the strings in ATTACH/KEYBOARD. */
export function routeTemplates(route: RouteConfig, index: number): RouteTemplate[] {
  const key = `routes[${index}]`;
  const templates: RouteTemplate[] = [];
  if (route.condition !== undefined)
    templates.push({ key: `${key}.condition`, source: `{{ ${route.condition} }}` });
  templates.push({ key: `${key}.userId`, source: route.userId });
  templates.push({ key: `${key}.message`, source: route.message });
  if (route.notify !== undefined) templates.push({ key: `${key}.notify`, source: route.notify });
  if (route.notifyTag !== undefined)
    templates.push({ key: `${key}.notifyTag`, source: route.notifyTag });
  const visit = (value: unknown, at: string): void => {
    if (typeof value === "string") {
      if (value.includes("{{") || value.includes("{%")) templates.push({ key: at, source: value });
    } else if (Array.isArray(value)) {
      for (const [position, item] of value.entries()) visit(item, `${at}[${position}]`);
    } else if (typeof value === "object" && value !== null) {
      for (const [name, item] of Object.entries(value)) visit(item, `${at}.${name}`);
    }
  };
  visit(route.attach, `${key}.attach`);
  visit(route.keyboard, `${key}.keyboard`);
  return templates;
}

/** The global variables a template reads, with fixed segments only (`payload[x]` is left out). */
export function variablesOf(source: string): VariablePath[] {
  try {
    return analyser
      .globalVariableSegmentsSync(source)
      .filter((segments): segments is VariablePath =>
        segments.every((segment) => typeof segment === "string" || typeof segment === "number"),
      );
  } catch {
    return [];
  }
}

/** `["payload", "items", 0, "id"]` -> `payload.items[0].id`. */
export function pathText(path: VariablePath): string {
  return path.reduce<string>(
    (text, segment) =>
      typeof segment === "number" ? `${text}[${segment}]` : text ? `${text}.${segment}` : segment,
    "",
  );
}

/** The value at a path in the template context, own properties only (as the engine reads). */
export function valueAt(context: unknown, path: VariablePath): unknown {
  let current = context;
  for (const segment of path) {
    if (typeof current !== "object" || current === null) return undefined;
    const key = String(segment);
    if (!Object.hasOwn(current, key)) return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

/** A variable that rendered empty, and where it is used. */
export interface EmptyVariable {
  key: string;
  variable: string;
}

/**
 * The variables of `templates` that are missing, null or empty text in `context`: the usual
 * sign of a typo (`customer_emial`) or of a payload of another shape.
 */
export function emptyVariables(
  templates: readonly RouteTemplate[],
  context: unknown,
): EmptyVariable[] {
  const empty: EmptyVariable[] = [];
  for (const template of templates) {
    const seen = new Set<string>();
    for (const path of variablesOf(template.source)) {
      const variable = pathText(path);
      if (seen.has(variable)) continue;
      seen.add(variable);
      const value = valueAt(context, path);
      if (value === undefined || value === null || value === "")
        empty.push({ key: template.key, variable });
    }
  }
  return empty;
}
