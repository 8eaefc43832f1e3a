import { Liquid, type Template as LiquidTemplate, Tokenizer, TokenKind } from "liquidjs";
import type { Config } from "./config-schema";
import { ConfigError } from "./errors";
import { escapeBbCode } from "./escape";
import { compileInterpolation, type Filter } from "./interpolation";
import { encodeUrlComponent, encodeValuesInUrls, URL_COMPONENT_FILTER } from "./url-template";

/** What every template sees: the parsed body and facts about the event. */
export interface TemplateContext {
  payload: unknown;
  event: { source: string; name: string; id: string; receivedAt: string };
}

/** A template parsed once at start; `render` throws when LiquidJS does (the caller reports it). */
export interface CompiledTemplate {
  /** Renders with a route's {@link TemplateContext}, or the digest's own context. */
  render(context: object): string;
}

/**
 * Text that is already BB-code made by hookline (an event's rendered, escaped message inside a
 * digest): output as it is, never escaped twice. Sender text never becomes one.
 */
export class TrustedBbCode {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

const escapeOutput = (value: unknown): string =>
  value instanceof TrustedBbCode ? value.text : escapeBbCode(value);

/** A route condition parsed once at start. */
export interface CompiledCondition {
  test(context: TemplateContext): boolean;
}

export interface TemplateEngine {
  /** Parses `source`; a syntax error or unknown filter/lookup table is a ConfigError naming `key`. */
  compile(source: string, key: string): CompiledTemplate;
  /** Parses a Liquid expression such as `payload.action == 'closed'`. */
  compileCondition(expression: string, key: string): CompiledCondition;
}

type Lookups = Config["lookups"];

/** Tags that read template files from disk: no use for config strings, so they do not exist. */
const FILE_TAGS = ["include", "render", "layout"] as const;
/** LiquidJS counts characters and array items created during one render. */
const MEMORY_LIMIT = 5_000_000;
/**
 * A wall-clock bound against runaway templates (loops the memory limit does not catch), not a
 * performance target: on a loaded machine an ordinary render (the first `money`, which warms
 * Intl) took over 200 ms and failed its route, so the bound leaves ample room.
 */
const RENDER_LIMIT_MS = 1_000;
const LOOKUP_USE = /\|\s*lookup\s*:\s*(["'])(.*?)\1/g;

/**
 * The LiquidJS engine with hookline's rules:
 * - every `{{ }}` / `echo` / `cycle` output goes through `escapeBbCode`, and `raw` is an ordinary
 *   filter, so `| raw` cannot skip the escape;
 * - unknown filters fail at start (`strictFilters`); missing variables render empty;
 * - `date` reads ISO strings and unix seconds (numbers or digit strings, e.g. Stripe's `created`)
 *   and prints UTC, by default as `2024-03-05 10:20 UTC`;
 * - `lookup: 'table'` maps a value through the config's `lookups` (empty when absent);
 * - `money: currency` formats minor units, e.g. `1234 | money: 'usd'` -> `$12.34`;
 * - a value inside the author's URL is percent-encoded (`url_component`), and one before the URL's
 *   host ends is a config error.
 *
 * @example makeTemplateEngine({ users: { "42": 7 } }).compile("{{ payload.id | lookup: 'users' }}", "routes[0].userId")
 */
export function makeTemplateEngine(
  lookups: Lookups,
  options: TemplateEngineOptions = {},
): TemplateEngine {
  const interpolation = options.interpolation ?? true;
  const filters = hooklineFilters(lookups);
  // Made on first use: a Lambda whose checked templates only interpolate never needs it.
  let instance: Liquid | undefined;
  const liquid = (): Liquid => {
    instance ??= makeLiquid(filters);
    return instance;
  };

  const parse = (source: string, key: string): LiquidTemplate[] => {
    checkLookupTables(source, key, lookups);
    try {
      return liquid().parse(source);
    } catch (error) {
      throw new ConfigError(`${key}: ${(error as Error).message}`, { cause: error });
    }
  };
  const renderer = (parsed: LiquidTemplate[]): CompiledTemplate => ({
    render: (context) => String(liquid().renderSync(parsed, context)),
  });

  return {
    compile(authored, key) {
      // Values inside the author's URLs are percent-encoded (functions/core/url-template.ts).
      const source = encodeValuesInUrls(authored, key);
      // Most templates only interpolate values: rendered directly, without LiquidJS's machinery.
      const plain = interpolation ? compileInterpolation(source, filters, escapeOutput) : undefined;
      if (options.checked) return plain ?? lazily(() => renderer(parse(source, key)));
      const parsed = parse(source, key);
      return plain ?? renderer(parsed);
    },
    compileCondition(expression, key) {
      const build = (): CompiledCondition => {
        checkCondition(expression, key, liquid());
        const parsed = parse(`{% if ${expression} %}1{% endif %}`, key);
        return { test: (context) => liquid().renderSync(parsed, context) === "1" };
      };
      if (!options.checked) return build();
      let condition: CompiledCondition | undefined;
      return {
        test: (context) => {
          condition ??= build();
          return condition.test(context);
        },
      };
    },
  };
}

export interface TemplateEngineOptions {
  /** `false`: every template renders with LiquidJS (tests compare both ways). Default true. */
  interpolation?: boolean;
  /**
   * The templates were compiled and checked before, by `parseConfig` at `cdk synth`: a plain
   * interpolation is not parsed by LiquidJS at all, anything else on its first use. Errors a
   * check would have caught are then not reported at start.
   */
  checked?: boolean;
}

/** A template compiled on its first render. */
function lazily(compile: () => CompiledTemplate): CompiledTemplate {
  let template: CompiledTemplate | undefined;
  return {
    render: (context) => {
      template ??= compile();
      return template.render(context);
    },
  };
}

function makeLiquid(filters: Record<string, Filter>): Liquid {
  const liquid = new Liquid({
    outputEscape: escapeOutput,
    strictFilters: true,
    ownPropertyOnly: true,
    timezoneOffset: 0,
    locale: "en-US",
    dateFormat: "%Y-%m-%d %H:%M UTC",
    // Payload values can size loops and ranges: `(1..payload.n)` with a huge n would otherwise
    // abort the whole process. Over either limit, rendering throws and the route fails.
    memoryLimit: MEMORY_LIMIT,
    renderLimit: RENDER_LIMIT_MS,
  });
  for (const tag of FILE_TAGS) delete liquid.tags[tag];
  for (const [name, filter] of Object.entries(filters)) liquid.registerFilter(name, filter);
  return liquid;
}

/**
 * LiquidJS reads an `if` expression leniently: `payload.x >` or `a b` parse, and then never
 * match. A condition must be values joined by operators (`not` before a value), optionally
 * followed by filters, and nothing after it.
 */
function checkCondition(expression: string, key: string, liquid: Liquid): void {
  const fail = (why: string): never => {
    throw new ConfigError(`${key}: ${why} in condition "${expression}"`);
  };
  const tokenizer = new Tokenizer(expression, liquid.options.operators);
  let expectValue = true;
  let sawValue = false;
  try {
    for (const token of tokenizer.readExpressionTokens()) {
      const text = token.getText().trim();
      if (token.kind !== TokenKind.Operator) {
        if (!expectValue) fail(`a value where an operator belongs ("${text}")`);
        expectValue = false;
        sawValue = true;
      } else if (text === "not") {
        if (!expectValue) fail('"not" where an operator belongs');
      } else {
        if (expectValue) fail(`"${text}" without a value before it`);
        expectValue = true;
      }
    }
    if (!sawValue) fail("no value");
    if (expectValue) fail("an operator without a value after it");
    tokenizer.skipBlank();
    if (!tokenizer.end() && tokenizer.peek() !== "|") {
      fail(`unexpected "${expression.slice(tokenizer.p)}"`);
    }
    tokenizer.readFilters();
    tokenizer.skipBlank();
    if (!tokenizer.end()) fail(`unexpected "${expression.slice(tokenizer.p)}"`);
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    fail((error as Error).message);
  }
}

/** hookline's own filters: `raw` is an ordinary filter here, so it cannot skip the escape. */
function hooklineFilters(lookups: Lookups): Record<string, Filter> {
  return {
    raw: (value) => value,
    lookup: (value, table) => lookup(lookups, value, table),
    money: formatMoney,
    [URL_COMPONENT_FILTER]: encodeUrlComponent,
  };
}

function lookup(lookups: Lookups, value: unknown, table: unknown): string | number | undefined {
  if (typeof table !== "string" || !Object.hasOwn(lookups, table)) return undefined;
  const entries = lookups[table];
  const key = textKey(value);
  return entries && key !== undefined && Object.hasOwn(entries, key) ? entries[key] : undefined;
}

/** `String(value)`, or undefined for a payload object whose `toString` is not a function. */
function textKey(value: unknown): string | undefined {
  try {
    return String(value);
  } catch {
    return undefined;
  }
}

/** A literal table name that the config does not define is a typo: fail at start. */
function checkLookupTables(source: string, key: string, lookups: Lookups): void {
  for (const [, , table = ""] of source.matchAll(LOOKUP_USE)) {
    if (!Object.hasOwn(lookups, table)) {
      const known = Object.keys(lookups).join(", ") || "none";
      throw new ConfigError(`${key}: unknown lookup table "${table}" (defined: ${known})`);
    }
  }
}

const MAX_CACHED_CURRENCIES = 64;
const currencyFormats = new Map<string, { format: Intl.NumberFormat; digits: number }>();

function currencyFormat(currency: unknown) {
  if (typeof currency !== "string" || !/^[A-Za-z]{3}$/.test(currency)) return undefined;
  const code = currency.toUpperCase();
  const cached = currencyFormats.get(code);
  if (cached) return cached;
  try {
    const format = new Intl.NumberFormat("en-US", { style: "currency", currency: code });
    const entry = { format, digits: format.resolvedOptions().maximumFractionDigits ?? 2 };
    if (currencyFormats.size < MAX_CACHED_CURRENCIES) currencyFormats.set(code, entry);
    return entry;
  } catch {
    return undefined;
  }
}

/**
 * Formats an amount in minor units (cents) with the currency's own fraction digits; empty text
 * for anything it cannot read, never an exception.
 *
 * @example formatMoney(1234, "usd") // "$12.34"; formatMoney(1234, "JPY") // "¥1,234"
 */
export function formatMoney(amount: unknown, currency: unknown): string {
  const minor =
    typeof amount === "number"
      ? amount
      : typeof amount === "string" && /^-?\d+$/.test(amount.trim())
        ? Number(amount)
        : Number.NaN;
  const currencyInfo = currencyFormat(currency);
  if (!Number.isFinite(minor) || !currencyInfo) return "";
  return currencyInfo.format.format(minor / 10 ** currencyInfo.digits);
}

/**
 * Whether `source` renders without LiquidJS: plain interpolation with hookline's filters, or no
 * template at all. The Lambdas load LiquidJS only for templates that are not (wiring).
 */
export const isPlainTemplate = (source: string): boolean =>
  !(source.includes("{{") || source.includes("{%")) ||
  compileInterpolation(source, hooklineFilters({}), escapeOutput) !== undefined;
