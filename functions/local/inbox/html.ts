/**
 * HTML building blocks for the inbox. Everything it shows may come from a webhook sender, so
 * text only ever reaches the page through `escapeHtml`, and links through `safeHref`.
 */

const HTML_ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/** Bidi overrides and isolates: sender text could draw itself reversed (`evt\u202Efdp.exe`). */
const BIDI_CONTROLS = /[\u202A-\u202E\u2066-\u2069]/g;

/** Text with its bidi controls shown (`<U+202E>`) instead of obeyed. */
export const showBidi = (text: string): string =>
  text.replace(
    BIDI_CONTROLS,
    (character) => `<U+${character.charCodeAt(0).toString(16).toUpperCase()}>`,
  );

/** Text as HTML text or a quoted attribute value; bidi controls shown, not obeyed. */
export const escapeHtml = (text: string): string =>
  showBidi(text).replace(/[&<>"']/g, (character) => HTML_ESCAPES[character] ?? character);

/** An http(s) URL, normalised, for an href or src; undefined for anything else (javascript:, data:). */
export function safeHref(value: unknown): string | undefined {
  if (typeof value !== "string") return undefined;
  try {
    const url = new URL(value.trim());
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : undefined;
  } catch {
    return undefined;
  }
}

/** `#RGB` or `#RRGGBB`, for a style attribute; undefined for anything else. */
export const safeColor = (value: unknown): string | undefined =>
  typeof value === "string" && /^#([0-9a-f]{3}|[0-9a-f]{6})$/i.test(value) ? value : undefined;

/** A link that opens in a new tab and tells the target nothing about the inbox. */
export function link(href: string, innerHtml: string, className?: string): string {
  const classAttribute = className ? ` class="${className}"` : "";
  return `<a${classAttribute} href="${escapeHtml(href)}" target="_blank" rel="noopener noreferrer">${innerHtml}</a>`;
}

/** `2026-11-25T09:01:02.000Z` -> `2026-11-25 09:01:02 UTC`. */
export const timeText = (iso: string): string =>
  iso.length >= 19 ? `${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC` : iso;
