import { escapeHtml, link, safeColor, safeHref } from "./html";

/**
 * Bitrix24 message text as the chat draws it, in safe HTML: `[b]`, `[i]`, `[u]`, `[s]`,
 * `[url]…[/url]` and `[url=…]…[/url]`, `[USER=n]…[/USER]` mentions, `[br]` and line breaks,
 * `>>` quote lines, and a block between two `------` lines as a quote (one alone: a rule).
 * Text is escaped, links must be http(s), and a tag that does not close stays literal text,
 * as it does in Bitrix24.
 *
 * @example renderBbCode("[b]Paid[/b] [url=https://x.example]invoice[/url]")
 * // '<strong>Paid</strong> <a href="https://x.example/" …>invoice</a>'
 */
export function renderBbCode(text: string): string {
  const lines = text.replaceAll("\r\n", "\n").split("\n");
  const html: string[] = [];
  let index = 0;
  while (index < lines.length) {
    const line = lines[index] ?? "";
    if (isSeparator(line)) {
      const end = lines.findIndex((next, at) => at > index && isSeparator(next));
      if (end < 0) {
        html.push('<hr class="bx-separator">');
        index++;
      } else {
        const quoted = lines.slice(index + 1, end).join("\n");
        html.push(`<blockquote class="bx-quote">${renderBbCode(quoted)}</blockquote>`);
        index = end + 1;
      }
      continue;
    }
    if (line.startsWith(">>")) {
      const quoted: string[] = [];
      while (index < lines.length && (lines[index] ?? "").startsWith(">>")) {
        quoted.push((lines[index] ?? "").slice(2));
        index++;
      }
      html.push(
        `<blockquote class="bx-quote-line">${renderInline(quoted.join("\n"))}</blockquote>`,
      );
      continue;
    }
    const plain: string[] = [];
    while (
      index < lines.length &&
      !isSeparator(lines[index] ?? "") &&
      !(lines[index] ?? "").startsWith(">>")
    ) {
      plain.push(lines[index] ?? "");
      index++;
    }
    html.push(`<div class="bx-text">${renderInline(plain.join("\n"))}</div>`);
  }
  return html.join("");
}

const isSeparator = (line: string): boolean => /^-{6,}$/.test(line.trim());

const TAG = /\[(\/?)(b|i|u|s|url|user|br|code|color|size)(?:=([^\]\n]*))?\]/gi;

interface Frame {
  tag: string;
  value: string | undefined;
  /** The tag as written, shown as text when it never closes. */
  raw: string;
  html: string[];
  text: string[];
}

/** Inline BB-codes of one block; unmatched tags are text. */
export function renderInline(text: string): string {
  const root: Frame = { tag: "", value: undefined, raw: "", html: [], text: [] };
  const stack: Frame[] = [root];
  const top = () => stack[stack.length - 1] ?? root;
  const addText = (content: string) => {
    top().html.push(escapeHtml(content).replaceAll("\n", "<br>"));
    top().text.push(content);
  };

  let last = 0;
  for (const match of text.matchAll(TAG)) {
    const [raw, closing, name = "", value] = match;
    addText(text.slice(last, match.index));
    last = match.index + raw.length;
    const tag = name.toLowerCase();
    if (tag === "br") {
      top().html.push("<br>");
      top().text.push("\n");
    } else if (!closing) {
      stack.push({ tag, value, raw, html: [], text: [] });
    } else {
      const at = stack.findLastIndex((frame, position) => position > 0 && frame.tag === tag);
      if (at < 0) {
        addText(raw);
        continue;
      }
      // Tags opened inside and never closed are text, as they were written.
      while (stack.length - 1 > at) unwind(stack);
      const frame = stack.pop() as Frame;
      const parent = top();
      parent.html.push(element(frame));
      parent.text.push(...frame.text);
    }
  }
  addText(text.slice(last));
  while (stack.length > 1) unwind(stack);
  return root.html.join("");
}

/** An unclosed frame: its opening tag as text, then its content, into the parent. */
function unwind(stack: Frame[]): void {
  const frame = stack.pop() as Frame;
  const parent = stack[stack.length - 1];
  if (!parent) return;
  parent.html.push(escapeHtml(frame.raw), ...frame.html);
  parent.text.push(frame.raw, ...frame.text);
}

function element(frame: Frame): string {
  const inner = frame.html.join("");
  switch (frame.tag) {
    case "b":
      return `<strong>${inner}</strong>`;
    case "i":
      return `<em>${inner}</em>`;
    case "u":
      return `<u>${inner}</u>`;
    case "s":
      return `<s>${inner}</s>`;
    case "code":
      return `<code>${inner}</code>`;
    case "url": {
      const href = safeHref(frame.value ?? frame.text.join(""));
      return href ? link(href, inner, "bx-link") : inner;
    }
    case "user":
      return frame.value !== undefined && /^\d+$/.test(frame.value)
        ? `<span class="bx-mention" data-user="${frame.value}">${inner}</span>`
        : inner;
    case "color": {
      const color = safeColor(frame.value);
      return color ? `<span style="color:${color}">${inner}</span>` : inner;
    }
    default:
      return inner;
  }
}
