import { renderInline } from "./bbcode";
import { escapeHtml, link, safeColor, safeHref } from "./html";

/**
 * ATTACH and KEYBOARD as Bitrix24 draws them under a message: a coloured bar holding the
 * blocks (MESSAGE, LINK, IMAGE, FILE, DELIMITER, GRID, USER), and rows of link buttons. Input
 * is whatever the simulator received, so every shape is checked and every value escaped.
 */

type Json = Record<string, unknown>;

const isRecord = (value: unknown): value is Json =>
  typeof value === "object" && value !== null && !Array.isArray(value);
const text = (value: unknown): string =>
  typeof value === "string" ? value : typeof value === "number" ? String(value) : "";
const many = (value: unknown): Json[] => (Array.isArray(value) ? value : [value]).filter(isRecord);

/** ATTACH: an array of blocks, or `{ COLOR?, BLOCKS: [...] }`. */
export function renderAttach(attach: unknown): string {
  const blocks = Array.isArray(attach) ? attach : isRecord(attach) ? attach.BLOCKS : undefined;
  if (!Array.isArray(blocks)) return "";
  const color = (isRecord(attach) && safeColor(attach.COLOR)) || "#2fc6f6";
  const body = blocks.filter(isRecord).map(renderBlock).join("");
  return `<div class="bx-attach" style="border-left-color:${color}">${body}</div>`;
}

function renderBlock(block: Json): string {
  if ("MESSAGE" in block)
    return `<div class="bx-attach-message">${renderInline(text(block.MESSAGE))}</div>`;
  if ("LINK" in block) return many(block.LINK).map(renderLink).join("");
  if ("IMAGE" in block) return many(block.IMAGE).map(renderImage).join("");
  if ("FILE" in block) return many(block.FILE).map(renderFile).join("");
  if ("DELIMITER" in block) {
    const delimiter = isRecord(block.DELIMITER) ? block.DELIMITER : {};
    const color = safeColor(delimiter.COLOR) ?? "#c8cbce";
    const size = Math.min(Number(text(delimiter.SIZE)) || 200, 1000);
    return `<hr class="bx-attach-delimiter" style="border-color:${color};width:${size}px">`;
  }
  if ("GRID" in block)
    return `<div class="bx-attach-grid">${many(block.GRID).map(renderGridItem).join("")}</div>`;
  if ("USER" in block) return many(block.USER).map(renderUser).join("");
  return "";
}

function renderLink(item: Json): string {
  const href = safeHref(item.LINK);
  const name = escapeHtml(text(item.NAME) || text(item.LINK));
  const title = href ? link(href, name) : name;
  const description = text(item.DESC)
    ? `<div class="bx-attach-desc">${renderInline(text(item.DESC))}</div>`
    : "";
  const preview = safeHref(item.PREVIEW);
  const image = preview ? imagePlaceholder(preview) : "";
  return `<div class="bx-attach-link"><div class="bx-attach-title">${title}</div>${description}${image}</div>`;
}

function renderImage(item: Json): string {
  const source = safeHref(item.LINK) ?? safeHref(item.PREVIEW);
  const name = text(item.NAME) ? `<div class="bx-dim">${escapeHtml(text(item.NAME))}</div>` : "";
  return `<div class="bx-attach-image">${name}${source ? imagePlaceholder(source) : ""}</div>`;
}

/**
 * A sender's image is never loaded by the inbox (that would tell the sender's host that the
 * page was opened, and from where): it is drawn as a placeholder with its URL, which opens it
 * on a click. The page's CSP allows no image source besides.
 */
function imagePlaceholder(url: string): string {
  return link(
    url,
    `🖼 image: <span class="bx-url">${escapeHtml(url)}</span>`,
    "bx-image-placeholder",
  );
}

function renderFile(item: Json): string {
  const href = safeHref(item.LINK);
  const name = escapeHtml(text(item.NAME) || "file");
  const size = text(item.SIZE)
    ? ` <span class="bx-dim">${escapeHtml(text(item.SIZE))} bytes</span>`
    : "";
  return `<div class="bx-attach-file">📄 ${href ? link(href, name) : name}${size}</div>`;
}

function renderGridItem(item: Json): string {
  const display = ["BLOCK", "LINE", "ROW", "TABLE"].includes(text(item.DISPLAY))
    ? text(item.DISPLAY).toLowerCase()
    : "block";
  const color = safeColor(item.COLOR);
  const href = safeHref(item.LINK);
  const value = renderInline(text(item.VALUE));
  const valueHtml = href ? link(href, value) : value;
  return `<div class="bx-grid-item bx-grid-${display}"><div class="bx-grid-name">${escapeHtml(text(item.NAME))}</div><div class="bx-grid-value"${color ? ` style="color:${color}"` : ""}>${valueHtml}</div></div>`;
}

function renderUser(item: Json): string {
  const href = safeHref(item.LINK);
  const name = escapeHtml(text(item.NAME));
  return `<div class="bx-attach-user">👤 ${href ? link(href, name) : name}</div>`;
}

/** KEYBOARD: link buttons, `{ TYPE: "NEWLINE" }` starting a new row; as an array or `{ BUTTONS }`. */
export function renderKeyboard(keyboard: unknown): string {
  const buttons = Array.isArray(keyboard)
    ? keyboard
    : isRecord(keyboard) && Array.isArray(keyboard.BUTTONS)
      ? keyboard.BUTTONS
      : undefined;
  if (!buttons) return "";
  const rows: string[][] = [[]];
  for (const button of buttons.filter(isRecord)) {
    if (button.TYPE === "NEWLINE") {
      rows.push([]);
      continue;
    }
    const href = safeHref(button.LINK);
    const background = safeColor(button.BG_COLOR);
    const color = safeColor(button.TEXT_COLOR);
    const style = [background && `background:${background}`, color && `color:${color}`]
      .filter(Boolean)
      .join(";");
    const label = escapeHtml(text(button.TEXT));
    const html = href
      ? `<a class="bx-button" href="${escapeHtml(href)}" target="_blank" rel="noopener noreferrer"${style ? ` style="${style}"` : ""}>${label}</a>`
      : `<span class="bx-button bx-button-disabled">${label}</span>`;
    rows[rows.length - 1]?.push(html);
  }
  return `<div class="bx-keyboard">${rows
    .filter((row) => row.length > 0)
    .map((row) => `<div class="bx-keyboard-row">${row.join("")}</div>`)
    .join("")}</div>`;
}
