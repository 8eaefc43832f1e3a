import { ConfigError } from "./errors";
import { toText } from "./escape";

/**
 * Sender values inside an author's URL (`https://x.example/{{ payload.path }}`) must not move the
 * link elsewhere (docs/security.md). At compile time each `{{ }}` output that follows an
 * `http(s)://` in the template's own text gets the `url_component` filter, so its value is
 * percent-encoded as one URL component; an output before the host ends (`https://{{ x }}.example`,
 * `https://x.example{{ path }}`, a port) is a config error. A template that is only a value
 * (`{{ payload.issue.html_url }}`) is left alone: the link checks in functions/core/message.ts
 * apply to it.
 */

export const URL_COMPONENT_FILTER = "url_component";

const OUTPUT = /\{\{(-?)(.*?)(-?)\}\}/gs;
const TAG = /\{%.*?%\}/gs;
/** The URL that text ends inside, if any: a scheme, then no character that ends a URL. */
const OPEN_URL = /https?:\/\/([^\s[\]"'<>]*)$/i;
const HOST_ENDED = /[/?#]/;
const ALREADY_ENCODED = new RegExp(`\\|\\s*${URL_COMPONENT_FILTER}\\s*$`);
/** Stands for an earlier value when reading where the next one lands. */
const VALUE = "v";

/**
 * `source` with `| url_component` added to every output inside a URL; throws ConfigError
 * (naming `key`) for an output before a URL's host ends.
 *
 * @example encodeValuesInUrls("https://x.example/{{ payload.path }}", "routes[0].message")
 * // "https://x.example/{{ payload.path | url_component}}"
 */
export function encodeValuesInUrls(source: string, key: string): string {
  if (!OPEN_URL_ANYWHERE.test(source)) return source;
  let result = "";
  let before = "";
  let last = 0;
  for (const match of source.matchAll(OUTPUT)) {
    const [whole, open = "", expression = "", close = ""] = match;
    const text = source.slice(last, match.index);
    before += text.replace(TAG, "");
    result += text;
    last = match.index + whole.length;
    const url = OPEN_URL.exec(before);
    before += VALUE;
    if (!url) {
      result += whole;
      continue;
    }
    if (!HOST_ENDED.test(url[1] ?? "")) {
      throw new ConfigError(
        `${key}: a value before the host ends in "${url[0]}{{${expression}}}": the sender could choose the link's host. Put the value after the host's "/", or use a whole URL from the payload`,
      );
    }
    const encoded = ALREADY_ENCODED.test(expression)
      ? expression
      : `${expression.trimEnd()} | ${URL_COMPONENT_FILTER} `;
    result += `{{${open}${encoded}${close}}}`;
  }
  return result + source.slice(last);
}
const OPEN_URL_ANYWHERE = /https?:\/\/[^{]*\{\{/i;

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
/** Characters `encodeURIComponent` keeps that can still mean something inside a URL or BB-code. */
const STILL_SPECIAL = /[!'()*-]/g;

/**
 * The `url_component` filter: the value as text, percent-encoded so that only letters, digits,
 * `_`, `.`, `~` and `%XX` remain (nothing a URL or BB-code parser reads as structure).
 *
 * @example encodeUrlComponent("a b/../@evil") // "a%20b%2F..%2F%40evil"
 */
export function encodeUrlComponent(value: unknown): string {
  return encodeURIComponent(toText(value).replace(LONE_SURROGATE, "\uFFFD")).replace(
    STILL_SPECIAL,
    (char) => `%${char.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}
