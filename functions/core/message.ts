import type { RenderedMessage } from "./job";
import { formatPath } from "./key-path";
import {
  accept,
  arrayOf,
  literal,
  matching,
  nonEmptyText,
  oneOf,
  oneOrMany,
  optional,
  refine,
  reject,
  type Shape,
  strictObject,
  string,
  trimmedText,
} from "./shapes";
import { isRecord } from "./values";

/** Bitrix24 cuts longer messages itself (with ` (...)`); we cut first, at a safe place. */
export const MAX_MESSAGE_LENGTH = 20_000;
/** The method's documented limit for serialised ATTACH and KEYBOARD (the server allows more). */
export const MAX_JSON_BYTES = 30 * 1024;

const TRUNCATION_MARK = " (...)";
/** How far back the cut may move to land on whitespace. */
const WHITESPACE_LOOKBACK = 200;
/** An unclosed `[` further back than this is text, not a tag to keep whole. */
const MAX_TAG_LENGTH = 2048;

/**
 * Shortens `text` to at most `max` characters, ending with ` (...)`. The cut never falls inside a
 * `[...]` tag or between the halves of a surrogate pair, and prefers whitespace.
 *
 * @example truncateMessage("word ".repeat(5000)).length <= 20_000
 */
export function truncateMessage(text: string, max = MAX_MESSAGE_LENGTH): string {
  if (text.length <= max) return text;
  let cut = Math.max(0, max - TRUNCATION_MARK.length);

  const whitespace = lastWhitespaceBefore(text, cut);
  if (whitespace > 0) cut = whitespace;
  // Checked after the whitespace move: a tag such as `[icon=URL size=20]` has spaces inside.
  const openTag = text.lastIndexOf("[", cut - 1);
  if (openTag >= 0 && openTag > text.lastIndexOf("]", cut - 1) && cut - openTag <= MAX_TAG_LENGTH) {
    cut = openTag;
  }
  if (isHighSurrogate(text.charCodeAt(cut - 1))) cut -= 1;

  return `${text.slice(0, cut).trimEnd()}${TRUNCATION_MARK}`;
}

const isHighSurrogate = (code: number): boolean => code >= 0xd800 && code <= 0xdbff;

function lastWhitespaceBefore(text: string, end: number): number {
  for (let index = end; index > end - WHITESPACE_LOOKBACK && index > 0; index--) {
    if (/\s/.test(text.charAt(index))) return index;
  }
  return -1;
}

// ATTACH and KEYBOARD shapes, from Bitrix24's REST docs (chats/messages/attachments, keyboards),
// as plain checks built once (functions/core/shapes.ts): no schema library runs per message.

const URL_ERROR = "must be an http(s) URL";

/**
 * A link as Bitrix24 receives it: parsed with the WHATWG URL parser, http(s) only, with no
 * whitespace, control character, backslash or user info anywhere (each lets another parser read a
 * different host than ours: `https://evil.example\@good.example`), and sent as the parser's
 * normalised `href`. A URL is not BB-code text, so the escape's look-alike `＆` and its
 * zero-width fences are taken out first; the parser is the guard here.
 */
const httpUrl: Shape = (rendered) => {
  if (typeof rendered !== "string") return reject(URL_ERROR);
  const text = rendered.replaceAll("\uFF06", "&").replaceAll("\u200B", "");
  const refuse = (why: string) => reject(`${URL_ERROR} (${why})`);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are the point
  if (/[\s\u0000-\u001F\u007F-\u009F]/.test(text))
    return refuse("whitespace or a control character");
  if (text.includes("\\")) return refuse("a backslash");
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return refuse("not a URL");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return refuse(url.protocol);
  if (url.username || url.password) return refuse("user info before the host");
  return accept(url.href);
};
const hexColor = matching(/^#([0-9a-f]{3}|[0-9a-f]{6})$/i, "must be #RGB or #RRGGBB");
const colorToken = oneOf(["primary", "secondary", "alert", "base"]);
/** Rendered leaves are strings; PHP reads "200" as 200, so digit strings count as integers. */
const WHOLE_NUMBER = "must be a whole number";
const integer: Shape = (value) => {
  if (typeof value === "number") {
    if (!Number.isInteger(value)) return reject("Invalid input");
    return value >= 0 && Number.isSafeInteger(value) ? accept(value) : reject(WHOLE_NUMBER);
  }
  if (typeof value === "string") return /^\d+$/.test(value) ? accept(value) : reject(WHOLE_NUMBER);
  return reject("Invalid input");
};
const text = string();

const linkItem = strictObject({
  LINK: httpUrl,
  NAME: optional(text),
  DESC: optional(text),
  PREVIEW: optional(httpUrl),
  WIDTH: optional(integer),
  HEIGHT: optional(integer),
  USER_ID: optional(integer),
  CHAT_ID: optional(integer),
  NETWORK_ID: optional(text),
});
const imageItem = strictObject({
  LINK: httpUrl,
  NAME: optional(text),
  PREVIEW: optional(httpUrl),
  WIDTH: optional(integer),
  HEIGHT: optional(integer),
});
const fileItem = strictObject({
  LINK: httpUrl,
  NAME: optional(text),
  SIZE: optional(integer),
});
const gridItem = strictObject({
  DISPLAY: oneOf(["BLOCK", "LINE", "ROW", "TABLE"]),
  NAME: optional(text),
  VALUE: optional(text),
  WIDTH: optional(integer),
  HEIGHT: optional(integer),
  COLOR_TOKEN: optional(colorToken),
  COLOR: optional(hexColor),
  LINK: optional(httpUrl),
  USER_ID: optional(integer),
  CHAT_ID: optional(integer),
});
const userItem = strictObject({
  NAME: nonEmptyText,
  AVATAR: optional(httpUrl),
  LINK: optional(httpUrl),
  USER_ID: optional(integer),
  CHAT_ID: optional(integer),
  BOT_ID: optional(integer),
  NETWORK_ID: optional(text),
  AVATAR_TYPE: optional(oneOf(["USER", "CHAT", "BOT"])),
});

/** One block holds exactly one kind. `HTML` descriptions are left out on purpose: no escape. */
const attachBlock = refine(
  strictObject({
    MESSAGE: optional(text),
    LINK: optional(oneOrMany(linkItem)),
    IMAGE: optional(oneOrMany(imageItem)),
    FILE: optional(oneOrMany(fileItem)),
    DELIMITER: optional(strictObject({ SIZE: optional(integer), COLOR: optional(hexColor) })),
    GRID: optional(oneOrMany(gridItem)),
    USER: optional(oneOrMany(userItem)),
  }),
  (block) => Object.keys(block as object).length === 1,
  "a block needs exactly one of MESSAGE, LINK, IMAGE, FILE, DELIMITER, GRID, USER",
);

const attachBlocks = arrayOf(attachBlock, 1);
const attachObject = strictObject({
  ID: optional(integer),
  COLOR: optional(hexColor),
  COLOR_TOKEN: optional(colorToken),
  BLOCKS: attachBlocks,
});

const yesNo = oneOf(["Y", "N"]);
const newlineButton = strictObject({ TYPE: literal("NEWLINE") });
const linkButton = strictObject({
  TEXT: trimmedText,
  LINK: httpUrl,
  BG_COLOR: optional(hexColor),
  BG_COLOR_TOKEN: optional(colorToken),
  TEXT_COLOR: optional(hexColor),
  DISPLAY: optional(oneOf(["LINE", "BLOCK"])),
  BLOCK: optional(yesNo),
  DISABLED: optional(yesNo),
  WIDTH: optional(integer),
});
/** Keys of buttons that talk to a bot or an app: this method only keeps link buttons. */
const NON_LINK_KEYS = [
  "COMMAND",
  "COMMAND_PARAMS",
  "APP_ID",
  "APP_PARAMS",
  "ACTION",
  "ACTION_VALUE",
];

/** A checked value, normalised (links as parsed `href`s), or why it was refused. */
type Check = { ok: true; value: unknown } | { ok: false; reason: string };
const fail = (reason: string): Check => ({ ok: false, reason });

function checkShape(shape: Shape, value: unknown, field: string): Check {
  const checked = shape(value);
  if (checked.ok) return checked;
  return fail(`${formatPath([field, ...checked.path])}: ${checked.message}`);
}

/**
 * Checks the size before the shape (bounds the work) and after (normalised links). The exact
 * JSON is only made when a cheap upper bound of its UTF-8 size is over the limit.
 */
function checkSized(check: (value: unknown) => Check, value: unknown, field: string): Check {
  const tooBig = (candidate: unknown): Check | undefined => {
    if (jsonBytesAtMost(candidate) <= MAX_JSON_BYTES) return undefined;
    const bytes = Buffer.byteLength(JSON.stringify(candidate) ?? "", "utf8");
    return bytes <= MAX_JSON_BYTES
      ? undefined
      : fail(`${field} is ${bytes} bytes as JSON, over the ${MAX_JSON_BYTES}-byte limit`);
  };
  const before = tooBig(value);
  if (before) return before;
  const checked = check(value);
  return (checked.ok && tooBig(checked.value)) || checked;
}

/** Longest JSON text of a number (`-1.2345678901234567e+308`). */
const MAX_NUMBER_CHARS = 24;
/**
 * An upper bound of `Buffer.byteLength(JSON.stringify(value))`: each UTF-16 unit of a string is
 * at most 6 bytes as JSON (`\u001f`, or a lone surrogate), anything else its longest form.
 * Infinity for what JSON.stringify would not write as plain data (the exact check decides).
 */
export function jsonBytesAtMost(value: unknown): number {
  switch (typeof value) {
    case "string":
      return 2 + 6 * value.length;
    case "number":
      return MAX_NUMBER_CHARS;
    case "boolean":
      return 5;
    case "undefined":
      return 9; // "null" in an array; an absent key costs less than this bound
    case "object": {
      if (value === null) return 4;
      if (typeof (value as { toJSON?: unknown }).toJSON === "function")
        return Number.POSITIVE_INFINITY;
      let bytes = 2;
      if (Array.isArray(value)) {
        for (const item of value) bytes += jsonBytesAtMost(item) + 1;
        return bytes;
      }
      for (const key of Object.keys(value)) {
        bytes += 2 + 6 * key.length + 2 + jsonBytesAtMost((value as Record<string, unknown>)[key]);
      }
      return bytes;
    }
    default:
      return Number.POSITIVE_INFINITY;
  }
}

/** ATTACH: an array of blocks, or `{ ID?, COLOR?, COLOR_TOKEN?, BLOCKS: [...] }`. */
export function checkAttach(attach: unknown): Check {
  return checkSized(
    (value) => checkShape(Array.isArray(value) ? attachBlocks : attachObject, value, "attach"),
    attach,
    "attach",
  );
}

/** KEYBOARD: link buttons and `{ TYPE: "NEWLINE" }`, as an array or `{ BUTTONS: [...] }`. */
export function checkKeyboard(keyboard: unknown): Check {
  return checkSized(checkButtons, keyboard, "keyboard");
}

function checkButtons(keyboard: unknown): Check {
  const wrapped = !Array.isArray(keyboard);
  const buttons = wrapped ? buttonsOf(keyboard) : keyboard;
  const field = wrapped ? "keyboard.BUTTONS" : "keyboard";
  if (!Array.isArray(buttons))
    return fail("keyboard must be an array of buttons or { BUTTONS: [...] }");
  if (wrapped && Object.keys(keyboard as object).length !== 1) {
    return fail("keyboard object may only hold BUTTONS");
  }

  let links = 0;
  const checked: unknown[] = [];
  for (const [index, button] of buttons.entries()) {
    const where = `${field}[${index}]`;
    const isNewline = isRecord(button) && button.TYPE === "NEWLINE";
    if (isRecord(button)) {
      const nonLink = NON_LINK_KEYS.find((key) => Object.hasOwn(button, key));
      if (nonLink) return fail(`${where}: only link buttons are allowed here (found ${nonLink})`);
    }
    const check = checkShape(isNewline ? newlineButton : linkButton, button, where);
    if (!check.ok) return check;
    checked.push(check.value);
    if (!isNewline) links++;
  }
  if (links === 0) return fail("keyboard has no link button");
  return { ok: true, value: wrapped ? { BUTTONS: checked } : checked };
}

const buttonsOf = (keyboard: unknown): unknown =>
  isRecord(keyboard) ? keyboard.BUTTONS : undefined;

/**
 * Checks a rendered message against Bitrix24's limits before it is queued. A long MESSAGE is cut
 * (see `truncateMessage`), everything else that does not fit is a failure with a short reason.
 */
export function validateMessage(
  message: RenderedMessage,
): { ok: true; message: RenderedMessage } | { ok: false; reason: string } {
  if (!Number.isSafeInteger(message.userId) || message.userId <= 0) {
    return { ok: false, reason: `userId must be a positive integer, got ${message.userId}` };
  }
  if (message.message.trim() === "") return { ok: false, reason: "message is empty" };
  const valid: RenderedMessage = { ...message, message: truncateMessage(message.message) };
  if (message.attach !== undefined) {
    const check = checkAttach(message.attach);
    if (!check.ok) return check;
    valid.attach = check.value;
  }
  if (message.keyboard !== undefined) {
    const check = checkKeyboard(message.keyboard);
    if (!check.ok) return check;
    valid.keyboard = check.value;
  }
  return { ok: true, message: valid };
}
