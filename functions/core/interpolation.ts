/**
 * Templates that only interpolate values, such as `[b]{{ payload.issue.title }}[/b]` or
 * `{{ payload.sender.id | lookup: 'users' }}`, rendered by plain string concatenation: the same
 * text LiquidJS renders (test/unit/interpolation.test.ts compares both), at a fraction of the
 * cost per webhook. Anything else (tags, whitespace control, other filters, literals, `size`,
 * `first`, `last`, brackets) is left to LiquidJS: `compileInterpolation` answers undefined.
 *
 * Values are JSON data or hookline's own plain objects: no LiquidJS Drop ever reaches a template.
 */

/** A filter as LiquidJS calls it: the value, then the arguments. */
export type Filter = (value: unknown, ...args: unknown[]) => unknown;

/** Reads one value from the render context: a variable path or a quoted literal. */
type Operand = (context: object) => unknown;

const OUTPUT = /\{\{(.*?)\}\}/gs;
const SEGMENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Liquid literals (`nil`, `empty`, …) and the properties LiquidJS computes (`size`, …). */
const NOT_A_VARIABLE = new Set(["true", "false", "nil", "null", "empty", "blank"]);
const COMPUTED_PROPERTIES = new Set(["size", "first", "last"]);
const QUOTED = /^(['"])([^'"\\{}]*)\1$/;

/**
 * A renderer for `source` when it is plain interpolation, else undefined. `escapeValue` is applied to
 * every output, after its filters, as LiquidJS's `outputEscape` is.
 *
 * @example compileInterpolation("Hi {{ payload.user.name }}", {}, escapeBbCode)?.render({ payload })
 */
export function compileInterpolation(
  source: string,
  filters: Readonly<Record<string, Filter>>,
  escapeValue: (value: unknown) => string,
): { render(context: object): string } | undefined {
  if (source.includes("{%")) return undefined;
  const texts: string[] = [];
  const outputs: Operand[] = [];
  let last = 0;
  for (const match of source.matchAll(OUTPUT)) {
    const output = compileOutput(match[1] ?? "", filters);
    if (!output) return undefined;
    texts.push(source.slice(last, match.index));
    outputs.push(output);
    last = match.index + match[0].length;
  }
  texts.push(source.slice(last));
  if (texts.some((text) => text.includes("{{"))) return undefined;

  const head = texts[0] ?? "";
  if (outputs.length === 0) return { render: () => head };
  return {
    render(context) {
      let text = head;
      for (let i = 0; i < outputs.length; i++) {
        text += escapeValue((outputs[i] as Operand)(context)) + texts[i + 1];
      }
      return text;
    },
  };
}

/** `path (| filter (: arg (, arg)*)?)*`, or undefined when the output is anything else. */
function compileOutput(expression: string, filters: Readonly<Record<string, Filter>>) {
  const [first = "", ...piped] = expression.split("|");
  const value = variable(first.trim());
  if (!value) return undefined;
  const steps: { filter: Filter; args: Operand[] }[] = [];
  for (const part of piped) {
    const colon = part.indexOf(":");
    const name = (colon < 0 ? part : part.slice(0, colon)).trim();
    const filter = Object.hasOwn(filters, name) ? filters[name] : undefined;
    if (!filter) return undefined;
    const args: Operand[] = [];
    if (colon >= 0) {
      for (const text of part.slice(colon + 1).split(",")) {
        const arg = operand(text.trim());
        if (!arg) return undefined;
        args.push(arg);
      }
    }
    steps.push({ filter, args });
  }
  if (steps.length === 0) return value;
  return (context: object) => {
    let result = value(context);
    for (const { filter, args } of steps) {
      result = filter(result, ...args.map((arg) => arg(context)));
    }
    return result;
  };
}

function operand(text: string): Operand | undefined {
  const quoted = QUOTED.exec(text);
  if (quoted) {
    const literal = quoted[2];
    return () => literal;
  }
  return variable(text);
}

/** `a.b.c`: each segment an identifier, read as LiquidJS reads it with `ownPropertyOnly`. */
function variable(text: string): Operand | undefined {
  const path = text.split(".");
  const [root = ""] = path;
  if (NOT_A_VARIABLE.has(root)) return undefined;
  for (const [index, segment] of path.entries()) {
    if (!SEGMENT.test(segment)) return undefined;
    if (index > 0 && COMPUTED_PROPERTIES.has(segment)) return undefined;
  }
  return (context) => {
    let value: unknown = context;
    for (const segment of path) {
      value = readProperty(value, segment);
    }
    return value;
  };
}

/** LiquidJS's `Context.readProperty` with `ownPropertyOnly`, for identifier keys. */
function readProperty(holder: unknown, key: string): unknown {
  let object = holder as { toLiquid?: unknown } | null | undefined;
  while (object && typeof object.toLiquid === "function") {
    object = (object.toLiquid as () => typeof object)();
  }
  if (object === null || object === undefined) return object;
  if (!Object.hasOwn(Object(object), key)) return undefined;
  const value = (object as Record<string, unknown>)[key];
  return typeof value === "function" ? value.call(object) : value;
}
