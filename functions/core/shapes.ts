import { isRecord } from "./values";
/**
 * Plain checks for the shapes of rendered messages (ATTACH, KEYBOARD), built once and run per
 * message without a schema library: a check is a function from a value to the value it accepts
 * (normalised) or the first problem with its path. Messages read as zod's do, so the reasons a
 * failed route records stay the same words whichever library checked them.
 *
 * @example
 * const button = strictObject({ TEXT: string(), LINK: optional(string()) });
 * button({ TEXT: 1 }) // { ok: false, path: ["TEXT"], message: "Invalid input: expected string, received number" }
 */

export type Path = (string | number)[];
export type Checked = { ok: true; value: unknown } | { ok: false; path: Path; message: string };
export type Shape = (value: unknown) => Checked;

/** A field that may be absent; `undefined` counts as absent. */
interface Optional {
  optional: Shape;
}
type Field = Shape | Optional;

export const accept = (value: unknown): Checked => ({ ok: true, value });
export const reject = (message: string, path: Path = []): Checked => ({
  ok: false,
  path,
  message,
});

/** zod's name for a value's type in "expected string, received number". */
function received(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "number" && !Number.isFinite(value)) {
    return String(value); // NaN, Infinity, -Infinity
  }
  return typeof value;
}

export const expected = (type: string, value: unknown): string =>
  `Invalid input: expected ${type}, received ${received(value)}`;

/** A string; `error` replaces the message for anything else. */
export const string =
  (error?: string): Shape =>
  (value) =>
    typeof value === "string" ? accept(value) : reject(error ?? expected("string", value));

/** A string matching `pattern`. */
export const matching =
  (pattern: RegExp, message: string): Shape =>
  (value) =>
    typeof value !== "string"
      ? reject(expected("string", value))
      : pattern.test(value)
        ? accept(value)
        : reject(message);

/** A string that is not empty once trimmed; the trimmed text is what passes. */
export const trimmedText: Shape = (value) => {
  if (typeof value !== "string") return reject(expected("string", value));
  const text = value.trim();
  return text.length >= 1
    ? accept(text)
    : reject("Too small: expected string to have >=1 characters");
};

/** A string of at least one character. */
export const nonEmptyText: Shape = (value) =>
  typeof value !== "string"
    ? reject(expected("string", value))
    : value.length >= 1
      ? accept(value)
      : reject("Too small: expected string to have >=1 characters");

export function oneOf(values: readonly string[]): Shape {
  const allowed = new Set(values);
  const message = `Invalid option: expected one of ${values.map((v) => `"${v}"`).join("|")}`;
  return (value) =>
    typeof value === "string" && allowed.has(value) ? accept(value) : reject(message);
}

export const literal =
  (expectedValue: string | number): Shape =>
  (value) =>
    value === expectedValue
      ? accept(value)
      : reject(`Invalid input: expected ${JSON.stringify(expectedValue)}`);

export const optional = (shape: Shape): Optional => ({ optional: shape });

/**
 * An object with exactly these keys (absent optional ones left out of the result), checked in
 * the order given, then unknown keys; the first problem wins.
 */
export function strictObject(fields: Readonly<Record<string, Field>>): Shape {
  const entries = Object.entries(fields).map(([key, field]) =>
    "optional" in field
      ? { key, shape: field.optional, required: false }
      : { key, shape: field, required: true },
  );
  return (value) => {
    if (!isRecord(value)) return reject(expected("object", value));
    const result: Record<string, unknown> = {};
    for (const { key, shape, required } of entries) {
      const item = Object.hasOwn(value, key) ? value[key] : undefined;
      if (item === undefined && !required) continue;
      const checked = shape(item);
      if (!checked.ok) return reject(checked.message, [key, ...checked.path]);
      result[key] = checked.value;
    }
    const unknown = Object.keys(value).filter((key) => !Object.hasOwn(fields, key));
    if (unknown.length > 0) {
      const s = unknown.length > 1 ? "s" : "";
      return reject(`Unrecognized key${s}: ${unknown.map((key) => `"${key}"`).join(", ")}`);
    }
    return accept(result);
  };
}

/** An array of at least `min` items. */
export function arrayOf(item: Shape, min = 0): Shape {
  return (value) => {
    if (!Array.isArray(value)) return reject(expected("array", value));
    const result: unknown[] = [];
    for (const [index, element] of value.entries()) {
      const checked = item(element);
      if (!checked.ok) return reject(checked.message, [index, ...checked.path]);
      result.push(checked.value);
    }
    if (result.length < min) return reject(`Too small: expected array to have >=${min} items`);
    return accept(result);
  };
}

/** One item, or a non-empty array of them; a problem keeps its real path (`LINK[1].LINK`). */
export function oneOrMany(item: Shape): Shape {
  const many = arrayOf(item, 1);
  return (value) => (Array.isArray(value) ? many(value) : item(value));
}

/** `shape`, then `test` on what it accepted. */
export const refine =
  (shape: Shape, test: (value: unknown) => boolean, message: string): Shape =>
  (value) => {
    const checked = shape(value);
    return !checked.ok || test(checked.value) ? checked : reject(message);
  };
