import type { Config, RouteConfig, RouteTarget } from "./config";
import type { RenderedMessage } from "./job";
import { validateMessage } from "./message";
import {
  type CompiledCondition,
  type CompiledTemplate,
  createTemplateEngine,
  type TemplateContext,
  type TemplateEngine,
} from "./template";

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
  patterns: RegExp[];
  condition: CompiledCondition | undefined;
  userId: CompiledTemplate;
  message: CompiledTemplate;
  attach: JsonTemplate | undefined;
  keyboard: JsonTemplate | undefined;
  urlPreview: boolean | undefined;
  whenLimited: RouteConfig["whenLimited"];
  target: RouteTarget;
}

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
  const engine = createTemplateEngine(config.lookups, { checked: options.checked ?? false });
  const bySource = new Map<string, CompiledRoute[]>();
  config.routes.forEach((route, index) => {
    const entry = compileRoute(route, index, engine);
    bySource.set(route.source, [...(bySource.get(route.source) ?? []), entry]);
  });

  const matches = (route: CompiledRoute, eventName: string): boolean =>
    route.patterns.some((pattern) => pattern.test(eventName));

  const router: Router = {
    hasCandidates: (sourceId, eventName) =>
      (bySource.get(sourceId) ?? []).some((route) => matches(route, eventName)),
    route(event) {
      const matching = (bySource.get(event.sourceId) ?? []).filter((route) =>
        matches(route, event.eventName),
      );
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

function compileRoute(route: RouteConfig, index: number, engine: TemplateEngine): CompiledRoute {
  const key = `routes[${index}]`;
  return {
    index,
    patterns: route.events.map(patternToRegExp),
    condition:
      route.condition === undefined
        ? undefined
        : engine.compileCondition(route.condition, `${key}.condition`),
    userId: engine.compile(route.userId, `${key}.userId`),
    message: engine.compile(route.message, `${key}.message`),
    attach:
      route.attach === undefined ? undefined : compileJson(route.attach, `${key}.attach`, engine),
    keyboard:
      route.keyboard === undefined
        ? undefined
        : compileJson(route.keyboard, `${key}.keyboard`, engine),
    urlPreview: route.urlPreview,
    whenLimited: route.whenLimited,
    target: route.to,
  };
}

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

/** One result for a route whose pattern matched; nothing when its condition is false. */
function renderRoute(route: CompiledRoute, context: TemplateContext): RouteResult[] {
  const failed = (reason: string): RouteResult[] => [
    { routeIndex: route.index, ok: false, reason: clip(reason, MAX_REASON_LENGTH) },
  ];
  let field = "condition";
  try {
    if (route.condition && !route.condition.test(context)) return [];

    field = "userId";
    // The escape fences some characters with zero-width spaces; a user id is not message text.
    const userIdText = route.userId.render(context).replaceAll("\u200B", "").trim();
    const userId = /^\d+$/.test(userIdText) ? Number(userIdText) : Number.NaN;
    if (!Number.isSafeInteger(userId) || userId <= 0) {
      const why = userIdText === "" ? "no user id found" : "not a positive integer";
      return failed(
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
    return valid.ok
      ? [
          {
            routeIndex: route.index,
            ok: true,
            message: valid.message,
            whenLimited: route.whenLimited,
            target: route.target,
          },
        ]
      : failed(valid.reason);
  } catch (error) {
    return failed(`${field}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

const clip = (text: string, max: number): string =>
  text.length <= max ? text : `${text.slice(0, max - 1)}…`;
