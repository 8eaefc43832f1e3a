import type { PendingDigest } from "../../../devkit/pending-digests";
import type { ReceivedMessage, ReceivedNotification } from "../bitrix-simulator";
import type { LoggedOutcome, LoggedRequest } from "../request-log";
import { renderAttach, renderKeyboard } from "./attachments";
import { renderBbCode } from "./bbcode";
import { escapeHtml, timeText } from "./html";

/** What the inbox shows, newest first. */
export interface InboxState {
  sources: { id: string; type: string }[];
  requests: readonly LoggedRequest[];
  digests: readonly PendingDigest[];
  /** Messages the simulated portals received, newest first; undefined when none is simulated. */
  messages: readonly PortalMessage[] | undefined;
  /**
   * System notifications the simulated portals show their users now (the second channel,
   * `im.notify.system.add`), newest first; undefined when none is simulated.
   */
  notifications?: readonly PortalNotification[] | undefined;
}

/** The live part of the page: requests, pending digests, messages. Re-rendered on every poll. */
export function renderSections(state: InboxState): string {
  return [
    section("Requests", "requests", state.requests.length, renderRequests(state.requests)),
    section("Pending digests", "digests", state.digests.length, renderDigests(state.digests)),
    section(
      "Messages in the Bitrix24 simulator",
      "messages",
      state.messages?.length ?? 0,
      state.messages === undefined
        ? emptyNote("Real Bitrix24 portals are configured: their messages are in the portals.")
        : renderMessages(state.messages),
    ),
    // Apart from the open line's messages: another channel, drawn as Bitrix24's bell draws it.
    ...(state.notifications === undefined
      ? []
      : [
          section(
            "System notifications in the Bitrix24 simulator",
            "notifications",
            state.notifications.length,
            renderNotifications(state.notifications),
          ),
        ]),
  ].join("");
}

function section(title: string, id: string, count: number, body: string): string {
  return `<section id="${id}"><h2>${escapeHtml(title)} <span class="count">${count}</span></h2>${body}</section>`;
}

function renderRequests(requests: readonly LoggedRequest[]): string {
  if (requests.length === 0)
    return emptyNote(
      'No webhooks yet. Press a "send sample" button, or run <code>npx hookline send &lt;source&gt;</code>.',
    );
  const rows = requests.map((request) => {
    const answer = request.answer.status ?? request.answer.error ?? "";
    return `<tr class="request status-${Math.floor(request.status / 100)}xx" data-seq="${request.seq}">
<td class="time">${escapeHtml(timeText(request.at))}</td>
<td><span class="badge status-${request.status}">${request.status} ${escapeHtml(answer)}</span></td>
<td class="source">${escapeHtml(request.sourceId ?? `${request.method} ${request.path}`)}</td>
<td class="event">${escapeHtml(request.eventName ?? "")}</td>
<td class="id">${escapeHtml(request.eventId ?? "")}</td>
<td class="detail">${requestDetail(request)}</td>
<td class="actions"><button type="button" class="open" data-seq="${request.seq}">open</button>${request.sourceId === undefined ? "" : ` <button type="button" class="replay" data-seq="${request.seq}" title="post it again: the receipt decides">replay</button>`}</td>
</tr>`;
  });
  return `<table class="requests"><thead><tr><th>time</th><th>answer</th><th>source</th><th>event</th><th>id</th><th>reason / outcomes</th><th></th></tr></thead><tbody>${rows.join("")}</tbody></table>`;
}

function requestDetail(request: LoggedRequest): string {
  if (request.answer.status === "ignored") {
    const expected = request.expected ?? [];
    return `<span class="reason">no route matches; routes expect ${escapeHtml(expected.join(", ") || "nothing")}</span>`;
  }
  if (request.answer.status === "duplicate")
    return '<span class="reason">already accepted (the sender\'s retry)</span>';
  if (request.answer.status === "accepted") {
    const queued = `<span class="reason">${request.messages ?? 0} queued${request.failed ? `, ${request.failed} failed to render` : ""}</span>`;
    return `${queued}<ul class="outcomes">${request.outcomes.map(renderOutcome).join("")}</ul>`;
  }
  return `<span class="reason">${escapeHtml(request.answer.message ?? "")}</span>`;
}

function renderOutcome(outcome: LoggedOutcome): string {
  const parts = [
    `<span class="badge outcome-${escapeHtml(outcome.outcome)}">${escapeHtml(outcome.outcome)}</span>`,
  ];
  if (outcome.userId !== undefined) parts.push(`user ${outcome.userId}`);
  // Both deliveries of one event: the notification, then (or still to come) its digest.
  if (outcome.notifiedAt !== undefined)
    parts.push(
      `<span class="notified">notified ${escapeHtml(timeText(outcome.notifiedAt))} (tag ${escapeHtml(outcome.notifyTag ?? "?")})</span>`,
    );
  if (outcome.dueAt !== undefined)
    parts.push(`<span class="due">digest due ${escapeHtml(timeText(outcome.dueAt))}</span>`);
  if (outcome.reason && outcome.reason !== outcome.outcome)
    parts.push(`<span class="reason">${escapeHtml(outcome.reason)}</span>`);
  return `<li class="outcome">${parts.join(" ")}</li>`;
}

function renderDigests(digests: readonly PendingDigest[]): string {
  return listOr(
    digests,
    "No pending digests.",
    (digest) => `<div class="digest" data-user="${digest.userId}">
<div class="digest-head"><strong>user ${digest.userId}</strong> · ${digest.events.length} event${digest.events.length === 1 ? "" : "s"} · <span class="due">due ${escapeHtml(digest.dueAt ? timeText(digest.dueAt) : "unknown")}</span></div>
<ul>${digest.events
      .map(
        (event) =>
          `<li>${escapeHtml(timeText(event.receivedAt))} <strong>${escapeHtml(event.sourceId)}</strong> ${escapeHtml(event.eventName)} <span class="id">${escapeHtml(event.eventId)}</span>${event.notifiedAt === undefined ? "" : ` <span class="notified">notified ${escapeHtml(timeText(event.notifiedAt))}</span>`}</li>`,
      )
      .join("")}</ul></div>`,
  );
}

/** A system notification a simulated portal shows, and which portal (by config id). */
export interface PortalNotification extends ReceivedNotification {
  portal: string;
}

function renderNotifications(notifications: readonly PortalNotification[]): string {
  return listOr(
    notifications,
    'No system notifications: routes with <code>whenLimited: "notify"</code> send them when a week is taken.',
    (notification) =>
      portalArticle(
        `<article class="notification" data-user="${notification.userId}"${notification.tag === undefined ? "" : ` data-tag="${escapeHtml(notification.tag)}"`}>`,
        `🔔 ${escapeHtml(notification.portal)} → <strong>user ${notification.userId}</strong> <span class="time">${escapeHtml(timeText(new Date(notification.at).toISOString()))}</span>${notification.tag === undefined ? "" : ` <span class="tag">tag ${escapeHtml(notification.tag)}</span>`}${notification.replaced > 0 ? ` <span class="replaced">replaced ${notification.replaced} earlier</span>` : ""}`,
        notification,
      ),
  );
}

/** A message a simulated portal received, and which portal (by config id). */
export interface PortalMessage extends ReceivedMessage {
  portal: string;
}

function renderMessages(messages: readonly PortalMessage[]): string {
  return listOr(messages, "The simulator has received no message yet.", (message) =>
    portalArticle(
      `<article class="message" data-user="${message.userId}">`,
      `${escapeHtml(message.portal)}, open line ${escapeHtml(message.code.slice(0, 8))}… → <strong>user ${message.userId}</strong> <span class="time">${escapeHtml(timeText(new Date(message.at).toISOString()))}</span>`,
      message,
    ),
  );
}

/** The note a section shows when it has nothing to list (`html` is markup, not text). */
function emptyNote(html: string): string {
  return `<p class="empty">${html}</p>`;
}

/** `items` rendered one after another, or the `empty` note when there is none. */
function listOr<T>(items: readonly T[], empty: string, render: (item: T) => string): string {
  return items.length === 0 ? emptyNote(empty) : items.map(render).join("");
}

/**
 * An item as a Bitrix24 portal shows it: the `open` tag of its article, a header line, then the
 * BB-code text, its attachment and its keyboard.
 */
function portalArticle(
  open: string,
  header: string,
  item: { message: string; attach?: unknown; keyboard?: unknown },
): string {
  return `${open}
<header>${header}</header>
<div class="bx-message">${renderBbCode(item.message)}</div>
${item.attach === undefined ? "" : renderAttach(item.attach)}
${item.keyboard === undefined ? "" : renderKeyboard(item.keyboard)}
</article>`;
}

/** The whole page: the sections above, "send sample" buttons, and a small polling script. */
export function renderPage(state: InboxState, nonce: string, token: string): string {
  const buttons = state.sources
    .map(
      (source) =>
        `<button type="button" data-source="${escapeHtml(source.id)}">send sample: ${escapeHtml(source.id)} <span class="bx-dim">(${escapeHtml(source.type)})</span></button>`,
    )
    .join("");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="hookline-token" content="${escapeHtml(token)}">
<title>hookline inbox</title>
<style nonce="${nonce}">${STYLE}</style>
</head>
<body>
<header class="top"><h1>hookline inbox</h1><div class="samples">${buttons}</div><output id="send-result" aria-live="polite"></output></header>
<main id="live">${renderSections(state)}</main>
<aside id="viewer" hidden><header><strong id="viewer-title"></strong> <button type="button" id="viewer-close">close</button></header><pre id="viewer-body"></pre></aside>
<script nonce="${nonce}">${SCRIPT}</script>
</body>
</html>`;
}

/**
 * Polls the sections once a second; "send sample" posts through the same code as `hookline
 * send`; "open" shows a stored request (masked by the server) as text; "replay" posts it again.
 */
const SCRIPT = `
const live = document.getElementById("live");
const result = document.getElementById("send-result");
const token = document.querySelector('meta[name="hookline-token"]').content;
const headers = { "x-hookline-inbox": "1", "x-hookline-token": token };
let shown = live.innerHTML;
async function refresh() {
  try {
    const response = await fetch("/_inbox/sections", { headers });
    if (!response.ok) return;
    const html = await response.text();
    if (html !== shown) { live.innerHTML = html; shown = live.innerHTML; }
  } catch {}
}
setInterval(refresh, 1000);
const viewer = document.getElementById("viewer");
document.getElementById("viewer-close").addEventListener("click", () => { viewer.hidden = true; });
live.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-seq]");
  if (!button) return;
  const seq = button.dataset.seq;
  if (button.classList.contains("open")) {
    const response = await fetch("/_inbox/requests/" + seq, { headers });
    const shown = await response.json();
    document.getElementById("viewer-title").textContent = shown.error ? "request " + seq : shown.method + " " + shown.path;
    document.getElementById("viewer-body").textContent = shown.error
      ? shown.error
      : shown.headers.map(([name, value]) => name + ": " + value).join("\\n") + "\\n\\n" + shown.body +
        (shown.truncated ? "\\n… (cut at " + shown.truncated + " characters)" : "");
    viewer.hidden = false;
    return;
  }
  button.disabled = true;
  try {
    const response = await fetch("/_inbox/replay/" + seq, { method: "POST", headers });
    const report = await response.json();
    result.textContent = report.error
      ? "replay failed: " + report.error
      : "replay " + report.path + ": " + report.status + " " + JSON.stringify(report.answer);
  } catch (error) {
    result.textContent = "replay failed: " + error;
  } finally {
    button.disabled = false;
    refresh();
  }
});
for (const button of document.querySelectorAll("button[data-source]")) {
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      const response = await fetch("/_inbox/send/" + encodeURIComponent(button.dataset.source), { method: "POST", headers });
      const report = await response.json();
      result.textContent = report.error
        ? "send failed: " + report.error
        : report.source + " " + report.event.name + ": " + report.status + " " + JSON.stringify(report.answer);
    } catch (error) {
      result.textContent = "send failed: " + error;
    } finally {
      button.disabled = false;
      refresh();
    }
  });
}
`;

const STYLE = `
body { font: 14px/1.45 system-ui, sans-serif; margin: 0; background: #eef2f4; color: #333; }
.top { background: #2fc6f6; color: #fff; padding: 10px 20px; display: flex; gap: 16px; align-items: center; flex-wrap: wrap; }
.top h1 { font-size: 18px; margin: 0; }
.samples button { margin-right: 6px; border: 0; border-radius: 14px; padding: 5px 12px; background: #fff; color: #2067b0; cursor: pointer; }
#send-result { font-family: ui-monospace, monospace; font-size: 12px; }
main { display: grid; grid-template-columns: minmax(0, 3fr) minmax(0, 2fr); gap: 16px; padding: 16px 20px; }
#requests { grid-column: 1 / -1; }
section { background: #fff; border-radius: 8px; padding: 10px 14px; }
h2 { font-size: 15px; margin: 4px 0 10px; } .count { color: #999; font-weight: normal; }
table.requests { width: 100%; border-collapse: collapse; font-size: 13px; }
table.requests td, table.requests th { text-align: left; padding: 4px 6px; border-bottom: 1px solid #eee; vertical-align: top; }
.id, .time, .bx-dim { color: #888; font-size: 12px; } .id { font-family: ui-monospace, monospace; word-break: break-all; }
.badge { display: inline-block; border-radius: 10px; padding: 0 8px; font-size: 12px; background: #e0e0e0; white-space: nowrap; }
.status-2xx .badge, .badge.outcome-sent { background: #d6f5d6; color: #1d6b1d; }
.status-4xx .badge, .status-5xx .badge, .badge.outcome-failed, .badge.outcome-unknown { background: #fde0dc; color: #a1281b; }
.badge.outcome-notified { background: #dce9fd; color: #1b4ea1; } .notified { color: #1b4ea1; }
.notification { border-radius: 8px; background: #eef3fc; padding: 8px 12px; margin-bottom: 10px; border-left: 3px solid #1b4ea1; } .notification .tag, .notification .replaced { color: #666; font-size: 12px; }
.badge.outcome-deferred, .badge.outcome-suppressed { background: #fff1c2; color: #7a5b00; }
.outcomes { margin: 2px 0 0; padding-left: 16px; } .due { color: #7a5b00; }
.digest { border-left: 3px solid #f7b500; padding: 4px 10px; margin-bottom: 8px; } .digest ul { margin: 4px 0; padding-left: 18px; }
.message { border-radius: 8px; background: #f5f7f8; padding: 8px 12px; margin-bottom: 10px; }
.message header { font-size: 12px; color: #666; margin-bottom: 4px; }
.bx-message { background: #fff; border-radius: 12px; padding: 8px 12px; box-shadow: 0 1px 1px rgba(0,0,0,.08); overflow-wrap: anywhere; }
.bx-quote, .bx-quote-line { margin: 4px 0; padding: 2px 8px; border-left: 3px solid #c2c8cd; color: #555; background: #f3f5f7; }
.bx-separator { border: 0; border-top: 1px solid #ccc; }
.bx-mention { color: #2067b0; font-weight: 600; } .bx-link, .bx-attach a { color: #2067b0; }
.bx-attach { border-left: 3px solid #2fc6f6; margin: 8px 0 0; padding: 4px 10px; background: #fff; border-radius: 0 6px 6px 0; }
.bx-attach-title { font-weight: 600; } .bx-attach-preview, .bx-attach-image img { max-width: 240px; max-height: 160px; display: block; }
.bx-attach-grid { display: flex; flex-wrap: wrap; gap: 4px 16px; } .bx-grid-block { flex-basis: 100%; } .bx-grid-name { color: #888; font-size: 12px; }
.bx-keyboard { margin-top: 8px; } .bx-keyboard-row { display: flex; gap: 6px; margin-bottom: 6px; }
.bx-button { display: inline-block; padding: 5px 14px; border-radius: 16px; background: #2fc6f6; color: #fff; text-decoration: none; font-size: 13px; }
.bx-button-disabled { background: #ccc; }
.empty { color: #888; }
.actions button { border: 1px solid #c2c8cd; border-radius: 10px; background: #fff; color: #2067b0; font-size: 12px; padding: 0 8px; cursor: pointer; }
.bx-image-placeholder { display: inline-block; max-width: 100%; padding: 6px 10px; margin: 4px 0; border: 1px dashed #9aa5ad; border-radius: 6px; background: #f3f5f7; color: #2067b0; text-decoration: none; font-size: 12px; overflow-wrap: anywhere; }
#viewer { position: fixed; right: 16px; bottom: 16px; width: min(720px, calc(100vw - 32px)); max-height: 70vh; overflow: auto; background: #fff; border-radius: 8px; box-shadow: 0 4px 24px rgba(0,0,0,.25); padding: 10px 14px; }
#viewer pre { white-space: pre-wrap; overflow-wrap: anywhere; font-size: 12px; margin: 8px 0 0; }
@media (max-width: 820px) {
  main { grid-template-columns: minmax(0, 1fr); padding: 12px; }
  table.requests thead { display: none; }
  table.requests, table.requests tbody { display: block; }
  table.requests tr.request { display: grid; grid-template-columns: repeat(3, minmax(0, 1fr)); gap: 2px 8px; padding: 6px 0; border-bottom: 1px solid #eee; }
  table.requests td { border: 0; padding: 0 2px; }
  table.requests td.id { grid-column: span 2; }
  table.requests td.detail, table.requests td.actions { grid-column: 1 / -1; }
}
`;
