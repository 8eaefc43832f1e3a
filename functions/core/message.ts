import * as z from "zod";
import type { RenderedMessage } from "./job";
import { formatPath } from "./key-path";

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

// ATTACH and KEYBOARD shapes, from Bitrix24's REST docs (chats/messages/attachments, keyboards).

/**
 * A link as Bitrix24 receives it: parsed with the WHATWG URL parser, http(s) only, with no
 * whitespace, control character, backslash or user info anywhere (each lets another parser read a
 * different host than ours: `https://evil.example\@good.example`), and sent as the parser's
 * normalised `href`. A URL is not BB-code text, so the escape's look-alike `＆` and its
 * zero-width fences are taken out first; the parser is the guard here.
 */
const httpUrl = z.string({ error: "must be an http(s) URL" }).transform((rendered, ctx) => {
  const text = rendered.replaceAll("\uFF06", "&").replaceAll("\u200B", "");
  const refuse = (why: string) => {
    ctx.addIssue({ code: "custom", message: `must be an http(s) URL (${why})` });
    return z.NEVER;
  };
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
  return url.href;
});
const hexColor = z
  .string()
  .regex(/^#([0-9a-f]{3}|[0-9a-f]{6})$/i, { error: "must be #RGB or #RRGGBB" });
const colorToken = z.enum(["primary", "secondary", "alert", "base"]);
/** Rendered leaves are strings; PHP reads "200" as 200, so digit strings count as integers. */
const wholeNumber = { error: "must be a whole number" };
const integer = z.union([
  z.number(wholeNumber).int(wholeNumber).nonnegative(wholeNumber),
  z.string(wholeNumber).regex(/^\d+$/, wholeNumber),
]);

/** One item or a non-empty list of them; errors keep the real path (`LINK.LINK`, `LINK[1].LINK`). */
function oneOrMany<T extends z.ZodType>(item: T) {
  const many = z.array(item).min(1);
  return z.unknown().transform((value, ctx) => {
    const result = (Array.isArray(value) ? many : item).safeParse(value);
    if (result.success) return result.data;
    for (const issue of result.error.issues) {
      ctx.addIssue({ code: "custom", message: issue.message, path: issue.path });
    }
    return z.NEVER;
  });
}

const linkItem = z.strictObject({
  LINK: httpUrl,
  NAME: z.string().optional(),
  DESC: z.string().optional(),
  PREVIEW: httpUrl.optional(),
  WIDTH: integer.optional(),
  HEIGHT: integer.optional(),
  USER_ID: integer.optional(),
  CHAT_ID: integer.optional(),
  NETWORK_ID: z.string().optional(),
});
const imageItem = z.strictObject({
  LINK: httpUrl,
  NAME: z.string().optional(),
  PREVIEW: httpUrl.optional(),
  WIDTH: integer.optional(),
  HEIGHT: integer.optional(),
});
const fileItem = z.strictObject({
  LINK: httpUrl,
  NAME: z.string().optional(),
  SIZE: integer.optional(),
});
const gridItem = z.strictObject({
  DISPLAY: z.enum(["BLOCK", "LINE", "ROW", "TABLE"]),
  NAME: z.string().optional(),
  VALUE: z.string().optional(),
  WIDTH: integer.optional(),
  HEIGHT: integer.optional(),
  COLOR_TOKEN: colorToken.optional(),
  COLOR: hexColor.optional(),
  LINK: httpUrl.optional(),
  USER_ID: integer.optional(),
  CHAT_ID: integer.optional(),
});
const userItem = z.strictObject({
  NAME: z.string().min(1),
  AVATAR: httpUrl.optional(),
  LINK: httpUrl.optional(),
  USER_ID: integer.optional(),
  CHAT_ID: integer.optional(),
  BOT_ID: integer.optional(),
  NETWORK_ID: z.string().optional(),
  AVATAR_TYPE: z.enum(["USER", "CHAT", "BOT"]).optional(),
});

/** One block holds exactly one kind. `HTML` descriptions are left out on purpose: no escape. */
const attachBlock = z
  .strictObject({
    MESSAGE: z.string().optional(),
    LINK: oneOrMany(linkItem).optional(),
    IMAGE: oneOrMany(imageItem).optional(),
    FILE: oneOrMany(fileItem).optional(),
    DELIMITER: z.strictObject({ SIZE: integer.optional(), COLOR: hexColor.optional() }).optional(),
    GRID: oneOrMany(gridItem).optional(),
    USER: oneOrMany(userItem).optional(),
  })
  .refine((block) => Object.keys(block).length === 1, {
    error: "a block needs exactly one of MESSAGE, LINK, IMAGE, FILE, DELIMITER, GRID, USER",
  });

const attachBlocks = z.array(attachBlock).min(1);
const attachObject = z.strictObject({
  ID: integer.optional(),
  COLOR: hexColor.optional(),
  COLOR_TOKEN: colorToken.optional(),
  BLOCKS: attachBlocks,
});

const yesNo = z.enum(["Y", "N"]);
const newlineButton = z.strictObject({ TYPE: z.literal("NEWLINE") });
const linkButton = z.strictObject({
  TEXT: z.string().trim().min(1),
  LINK: httpUrl,
  BG_COLOR: hexColor.optional(),
  BG_COLOR_TOKEN: colorToken.optional(),
  TEXT_COLOR: hexColor.optional(),
  DISPLAY: z.enum(["LINE", "BLOCK"]).optional(),
  BLOCK: yesNo.optional(),
  DISABLED: yesNo.optional(),
  WIDTH: integer.optional(),
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

function checkSchema(schema: z.ZodType, value: unknown, field: string): Check {
  const result = schema.safeParse(value);
  if (result.success) return { ok: true, value: result.data };
  const issue = result.error.issues[0];
  const path = issue ? formatPath([field, ...issue.path]) : field;
  return fail(`${path}: ${issue?.message ?? "invalid"}`);
}

/** Checks the size before the schema (cheap, bounds the work) and after (normalised links). */
function checkSized(check: (value: unknown) => Check, value: unknown, field: string): Check {
  const tooBig = (candidate: unknown): Check | undefined => {
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

/** ATTACH: an array of blocks, or `{ ID?, COLOR?, COLOR_TOKEN?, BLOCKS: [...] }`. */
export function checkAttach(attach: unknown): Check {
  return checkSized(
    (value) => checkSchema(Array.isArray(value) ? attachBlocks : attachObject, value, "attach"),
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
    const check = checkSchema(isNewline ? newlineButton : linkButton, button, where);
    if (!check.ok) return check;
    checked.push(check.value);
    if (!isNewline) links++;
  }
  if (links === 0) return fail("keyboard has no link button");
  return { ok: true, value: wrapped ? { BUTTONS: checked } : checked };
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

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
