/**
 * Neutralises sender-controlled text before it goes into a Bitrix24 BB-code message.
 *
 * Bitrix24 has no escape for BB-codes, and HTML entities such as `&#91;` are decoded back to `[`
 * by the server, so hookline changes the characters that carry markup instead:
 *
 * - `[` and `]` become the fullwidth look-alikes `［` (U+FF3B) and `］` (U+FF3D). Every BB-code
 *   needs an ASCII bracket, so no tag, mention, link or command (`[b]`, `[URL=...]`, `[user=1]`,
 *   `[br]`, `[send=...]`) can start or end inside a value, in any letter case or nesting.
 * - `&` becomes the fullwidth `＆` (U+FF06), so no entity (`&#91;`, `&lbrack;`, `&amp;#x5B;`)
 *   can start inside a value: decoding once or twice never yields markup from sender text.
 * - A `>` that starts the value or follows another `>` gets a zero-width space (U+200B) before
 *   it, and one that ends the value gets one after it, so no `>>` quote can form, inside a value,
 *   after a newline in it, or where the value meets template text or another value.
 * - Runs of four or more `-` are split by zero-width spaces into runs of three, and a `-` at
 *   either end of the value is fenced off with one, so a value cannot open or close a `------`
 *   message quote, alone or joined with its neighbours (`{{ a }}{{ b }}` with `---` and `---`).
 * - C0 and C1 control characters (except tab and newline; `\r` is dropped, so `\r\n` becomes
 *   `\n`), bidirectional override/isolate characters and lone surrogates are removed.
 *
 * The result is idempotent: escaping twice changes nothing more. Template text written by the
 * config author is not passed through here, so `[b]{{ payload.title }}[/b]` stays bold.
 * Plain URLs in a value stay plain text (clients may still auto-link them; set `urlPreview: false`
 * to avoid previews).
 */

const FULLWIDTH_LEFT_BRACKET = "\uFF3B";
const FULLWIDTH_RIGHT_BRACKET = "\uFF3D";
const FULLWIDTH_AMPERSAND = "\uFF06";
const ZERO_WIDTH_SPACE = "\u200B";

/** Anything the escape would change; most values have none of these and return untouched. */
const NEEDS_WORK =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are the point
  /[\u0000-\u0008\u000B-\u001F\u007F-\u009F[\]&>\u202A-\u202E\u2066-\u2069\uD800-\uDFFF]|-{4}|^-|-$/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are the point
const UNWANTED = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]/g;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
const QUOTE_MARK = /(?<=^|>)>/g;
const TRAILING_QUOTE_MARK = />$/;
const DASH_RUN = /-{4,}/g;
const LEADING_DASH = /^-/;
const TRAILING_DASH = /-$/;

/** Turns any template value into display text: nothing for null, JSON for objects. */
export function toText(value: unknown): string {
  if (typeof value === "string") return value;
  if (value === null || value === undefined) return "";
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") {
    return String(value);
  }
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? "" : value.toISOString();
  if (Array.isArray(value)) return value.map(toText).join(", ");
  try {
    return JSON.stringify(value) ?? "";
  } catch {
    return ""; // cycles or BigInt inside: nothing sensible to show
  }
}

const splitDashes = (run: string): string => run.match(/-{1,3}/g)?.join(ZERO_WIDTH_SPACE) ?? run;

/**
 * Escapes one interpolated value for a BB-code message (see the module comment).
 *
 * @example escapeBbCode("[url=javascript:x]hi[/url]") // "［url=javascript:x］hi［/url］"
 */
export function escapeBbCode(value: unknown): string {
  const text = toText(value);
  if (!NEEDS_WORK.test(text)) return text;
  return text
    .replace(UNWANTED, "")
    .replace(LONE_SURROGATE, "")
    .replaceAll("[", FULLWIDTH_LEFT_BRACKET)
    .replaceAll("]", FULLWIDTH_RIGHT_BRACKET)
    .replaceAll("&", FULLWIDTH_AMPERSAND)
    .replace(QUOTE_MARK, `${ZERO_WIDTH_SPACE}>`)
    .replace(TRAILING_QUOTE_MARK, `>${ZERO_WIDTH_SPACE}`)
    .replace(DASH_RUN, splitDashes)
    .replace(LEADING_DASH, `${ZERO_WIDTH_SPACE}-`)
    .replace(TRAILING_DASH, `-${ZERO_WIDTH_SPACE}`);
}
