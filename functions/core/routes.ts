import type { Config, RouteConfig, RouteTarget } from "./config-schema";
import { NOTIFYING, type RenderedMessage, type RenderedNotification } from "./job";
import { validateMessage } from "./message";
import {
  type CompiledCondition,
  type CompiledTemplate,
  makeTemplateEngine,
  type TemplateContext,
  type TemplateEngine,
} from "./template";
import { clip } from "./values";

export interface EventForRouting {
  sourceId: string;
  eventId: string;
  eventName: string;
  receivedAt: Date;
  payload: unknown;
}

export type RouteResult =
  | {
      routeIndex: number;
      ok: true;
      message: RenderedMessage;
      whenLimited: RouteConfig["whenLimited"];
      /** The system notification, when the route notifies (`whenLimited: "notify"`, `"notify-only"`). */
      notify?: RenderedNotification;
      /** The portal and open line that send it. */
      target: RouteTarget;
    }
  | { routeIndex: number; ok: false; reason: string };

export interface Router {
  /** Routes whose source, event pattern and condition match, each rendered and validated. Empty = no route matches. */
  route(event: EventForRouting): RouteResult[];
  /** Cheap pre-check without rendering: does any route of this source match this event name (ignoring conditions)? */
  hasCandidates(sourceId: string, eventName: string): boolean;
}

/** Renders a JSON value whose string leaves are templates. */
type JsonTemplate = (context: TemplateContext) => unknown;

interface CompiledRoute {
  index: number;
  source: string;
  patterns: RegExp[];
  condition: CompiledCondition | undefined;
  userId: CompiledTemplate;
  message: CompiledTemplate;
  attach: JsonTemplate | undefined;
  keyboard: JsonTemplate | undefined;
  urlPreview: boolean | undefined;
  whenLimited: RouteConfig["whenLimited"];
  /** Compiled when the route notifies: its text (the message's by default) and its TAG. */
  notify: { message: CompiledTemplate; tag: CompiledTemplate } | undefined;
  target: RouteTarget;
}

/**
 * A TAG longer than this is refused at render: Bitrix24 keeps a notification's tag in a column of
 * 255 characters, with the app's prefix in front (docs/notify.md).
 */
export const MAX_NOTIFY_TAG_LENGTH = 200;

/** Reasons are stored and logged: keep them short, never a payload dump. */
const MAX_REASON_LENGTH = 300;
const MAX_SHOWN_USER_ID = 40;

/** `parseConfig` compiles the routes to check them; the ingest wiring then reuses that work. */
const compiled = new WeakMap<Config, Router>();

/**
 * Compiles every template once at start (once per config object); a syntax error throws
 * ConfigError naming the key, e.g. `routes[2].message: ...`.
 *
 * @example
 * const router = compileRoutes(config);
 * if (router.hasCandidates("github", "issues.closed")) router.route(event);
 */
export function compileRoutes(config: Config, options: { checked?: boolean } = {}): Router {
  const cached = compiled.get(config);
  if (cached) return cached;
  // A config checked at build time: templates compile on first use (see TemplateEngineOptions).
  const engine = makeTemplateEngine(config.lookups, { checked: options.checked ?? false });
  const routes = config.routes.map((route, index) => compileRoute(route, index, engine));
  const bySource = new Map<string, CompiledRoute[]>();
  for (const route of routes) {
    const list = bySource.get(route.source);
    if (list) list.push(route);
    else bySource.set(route.source, [route]);
  }
  const lookup = routeLookup(config.routes);

  const matches = (route: CompiledRoute, eventName: string): boolean =>
    route.patterns.some((pattern) => pattern.test(eventName));

  const router: Router = {
    hasCandidates: (sourceId, eventName) =>
      (bySource.get(sourceId) ?? []).some((route) => matches(route, eventName)),
    route(event) {
      const matching: CompiledRoute[] = [];
      for (const index of lookup(event.sourceId, event.payload)) {
        const route = routes[index];
        if (route && matches(route, event.eventName)) matching.push(route);
      }
      if (matching.length === 0) return [];
      const context: TemplateContext = {
        payload: event.payload,
        event: {
          source: event.sourceId,
          name: event.eventName,
          id: event.eventId,
          receivedAt: event.receivedAt.toISOString(),
        },
      };
      return matching.flatMap((route) => renderRoute(route, context));
    },
  };
  compiled.set(config, router);
  return router;
}

/**
 * A condition that starts by comparing one payload field with a string, `payload.a.b == 'x'`
 * (alone, or followed by `and …` with no `or`), is true only where that field is exactly the
 * string `x`: LiquidJS's `==` is strict equality on JSON values. `size`, `first`, `last` and
 * names on Object.prototype are left out (LiquidJS reads those specially).
 */
const KEYED_CONDITION =
  /^payload((?:\.[A-Za-z_][A-Za-z0-9_]*)+)\s*==\s*(?:'([^']*)'|"([^"]*)")(?:\s+and\s+(.*))?$/s;
const LIQUID_PROPERTIES = new Set(["size", "first", "last"]);

/** The payload field and string a route's condition requires, when it plainly requires one. */
export function conditionKey(condition: string): { path: string[]; value: string } | undefined {
  const match = KEYED_CONDITION.exec(condition.trim());
  if (!match) return undefined;
  const [, dotted = "", single, double, rest] = match;
  if (rest !== undefined && /\bor\b/.test(rest)) return undefined;
  const path = dotted.slice(1).split(".");
  if (path.some((name) => LIQUID_PROPERTIES.has(name) || name in Object.prototype))
    return undefined;
  return { path, value: single ?? double ?? "" };
}

/** A field under a list or a string: LiquidJS may read it otherwise than a plain object. */
const UNKNOWN = Symbol("unknown");

function readPath(payload: unknown, path: readonly string[]): unknown {
  let value = payload;
  for (const name of path) {
    if (value === null || value === undefined) return undefined;
    if (typeof value !== "object" || Array.isArray(value)) return UNKNOWN;
    value = Object.hasOwn(value, name) ? (value as Record<string, unknown>)[name] : undefined;
  }
  return value;
}

interface SourceTable {
  /** Routes checked for every webhook of the source. */
  scanned: number[];
  /** Routes keyed by the payload field their condition compares: looked up, not scanned. */
  keyed: Map<string, { path: string[]; all: number[]; byValue: Map<string, number[]> }>;
}

/**
 * The routes (by index, in config order) a webhook of `sourceId` with `payload` must be checked
 * against: those of its source, and of those whose condition keys on a payload field only the
 * ones whose string that field holds. 1,000 routes of one source, one per portal keyed on the
 * payload's tenant, cost one lookup instead of 1,000 condition checks (docs/scale.md).
 *
 * @example routeLookup(config.routes)("shop", { tenant: "acme" }) // [7]
 */
export function routeLookup(
  routes: ReadonlyArray<{ source: string; condition?: string | undefined }>,
): (sourceId: string, payload: unknown) => number[] {
  const tables = new Map<string, SourceTable>();
  routes.forEach((route, index) => {
    let table = tables.get(route.source);
    if (!table) {
      table = { scanned: [], keyed: new Map() };
      tables.set(route.source, table);
    }
    const key = route.condition === undefined ? undefined : conditionKey(route.condition);
    if (!key) {
      table.scanned.push(index);
      return;
    }
    const field = key.path.join(".");
    let group = table.keyed.get(field);
    if (!group) {
      group = { path: key.path, all: [], byValue: new Map() };
      table.keyed.set(field, group);
    }
    group.all.push(index);
    const same = group.byValue.get(key.value);
    if (same) same.push(index);
    else group.byValue.set(key.value, [index]);
  });
  return (sourceId, payload) => {
    const table = tables.get(sourceId);
    if (!table) return [];
    if (table.keyed.size === 0) return table.scanned;
    const found = [...table.scanned];
    for (const group of table.keyed.values()) {
      const value = readPath(payload, group.path);
      if (value === UNKNOWN) found.push(...group.all);
      else if (typeof value === "string") found.push(...(group.byValue.get(value) ?? []));
    }
    return found.sort((a, b) => a - b);
  };
}

function compileRoute(route: RouteConfig, index: number, engine: TemplateEngine): CompiledRoute {
  const key = `routes[${index}]`;
  const message = engine.compile(route.message, `${key}.message`);
  return {
    index,
    source: route.source,
    patterns: route.events.map(patternToRegExp),
    condition:
      route.condition === undefined
        ? undefined
        : engine.compileCondition(route.condition, `${key}.condition`),
    userId: engine.compile(route.userId, `${key}.userId`),
    message,
    attach:
      route.attach === undefined ? undefined : compileJson(route.attach, `${key}.attach`, engine),
    keyboard:
      route.keyboard === undefined
        ? undefined
        : compileJson(route.keyboard, `${key}.keyboard`, engine),
    urlPreview: route.urlPreview,
    whenLimited: route.whenLimited,
    notify: NOTIFYING.includes(route.whenLimited)
      ? {
          message:
            route.notify === undefined ? message : engine.compile(route.notify, `${key}.notify`),
          tag: engine.compile(route.notifyTag ?? defaultNotifyTag(index), `${key}.notifyTag`),
        }
      : undefined,
    target: route.to,
  };
}

/** `hookline:<route index>`: every event of one route replaces that route's last notification. */
export const defaultNotifyTag = (routeIndex: number): string => `hookline:${routeIndex}`;

/** `issues.*` -> /^issues\..*$/: only `*` is special. */
export function patternToRegExp(pattern: string): RegExp {
  const literal = pattern.split("*").map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  return new RegExp(`^${literal.join(".*")}$`);
}

const isTemplate = (text: string): boolean => text.includes("{{") || text.includes("{%");

function compileJson(value: unknown, key: string, engine: TemplateEngine): JsonTemplate {
  if (typeof value === "string") {
    if (!isTemplate(value)) return () => value;
    const template = engine.compile(value, key);
    return (context) => template.render(context);
  }
  if (Array.isArray(value)) {
    const items = value.map((item, index) => compileJson(item, `${key}[${index}]`, engine));
    return (context) => items.map((item) => item(context));
  }
  if (typeof value === "object" && value !== null) {
    const entries = Object.entries(value).map(
      ([name, item]) => [name, compileJson(item, `${key}.${name}`, engine)] as const,
    );
    return (context) => Object.fromEntries(entries.map(([name, item]) => [name, item(context)]));
  }
  return () => value;
}

/** A route that could not render its message, and why (clipped). */
const failedRoute = (route: CompiledRoute, reason: string): RouteResult[] => [
  { routeIndex: route.index, ok: false, reason: clip(reason, MAX_REASON_LENGTH) },
];

/**
 * One result for a route whose pattern matched; nothing when its condition is false. No closure
 * is made per render (this runs for every webhook).
 */
function renderRoute(route: CompiledRoute, context: TemplateContext): RouteResult[] {
  let field = "condition";
  try {
    if (route.condition && !route.condition.test(context)) return [];

    field = "userId";
    // The escape fences some characters with zero-width spaces; a user id is not message text.
    const userIdText = route.userId.render(context).replaceAll("\u200B", "").trim();
    const userId = /^\d+$/.test(userIdText) ? Number(userIdText) : Number.NaN;
    if (!Number.isSafeInteger(userId) || userId <= 0) {
      const why = userIdText === "" ? "no user id found" : "not a positive integer";
      return failedRoute(
        route,
        `userId rendered as ${JSON.stringify(clip(userIdText, MAX_SHOWN_USER_ID))} (${why})`,
      );
    }

    field = "message";
    const rendered: RenderedMessage = { userId, message: route.message.render(context) };
    field = "attach";
    if (route.attach) rendered.attach = route.attach(context);
    field = "keyboard";
    if (route.keyboard) rendered.keyboard = route.keyboard(context);
    if (route.urlPreview !== undefined) rendered.urlPreview = route.urlPreview;

    const valid = validateMessage(rendered);
    if (!valid.ok) return failedRoute(route, valid.reason);
    let notify: RenderedNotification | undefined;
    if (route.notify) {
      field = "notify";
      const text = route.notify.message.render(context);
      const checked = validateMessage({ userId, message: text, attach: rendered.attach });
      if (!checked.ok) return failedRoute(route, `notify: ${checked.reason}`);
      field = "notifyTag";
      // The escape's zero-width fences are not part of a tag: equal tags must stay equal.
      const tag = route.notify.tag.render(context).replaceAll("\u200B", "").trim();
      if (tag === "") return failedRoute(route, "notifyTag rendered empty");
      if (tag.length > MAX_NOTIFY_TAG_LENGTH) {
        return failedRoute(
          route,
          `notifyTag is ${tag.length} characters, over ${MAX_NOTIFY_TAG_LENGTH}`,
        );
      }
      notify = {
        message: checked.message.message,
        ...(checked.message.attach !== undefined && { attach: checked.message.attach }),
        tag,
      };
    }
    return [
      {
        routeIndex: route.index,
        ok: true,
        message: valid.message,
        whenLimited: route.whenLimited,
        ...(notify && { notify }),
        target: route.target,
      },
    ];
  } catch (error) {
    return failedRoute(
      route,
      `${field}: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
}
