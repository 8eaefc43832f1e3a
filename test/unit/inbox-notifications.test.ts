import { describe, expect, it } from "vitest";
import { type InboxState, renderSections } from "../../functions/local/inbox/page";

const AT = Date.parse("2026-12-04T09:00:00Z");

const state = (over: Partial<InboxState> = {}): InboxState => ({
  sources: [],
  requests: [],
  digests: [],
  messages: [],
  notifications: [],
  ...over,
});

describe("the inbox and the second channel", () => {
  it("draws system notifications in a section of their own, apart from open-line messages", () => {
    const html = renderSections(
      state({
        messages: [
          {
            portal: "main",
            code: "ab515f5d85a8b844d484f6ea75a2e494",
            userId: 5,
            message: "on the line",
            urlPreview: "Y",
            at: AT,
          },
        ],
        notifications: [
          {
            portal: "main",
            id: 3,
            userId: 5,
            message: "[b]Payment failed[/b] <script>",
            tag: "dunning:<x>",
            clientId: "hookline",
            at: AT,
            replaced: 2,
          },
        ],
      }),
    );
    const messages = html.slice(
      html.indexOf('<section id="messages">'),
      html.indexOf('<section id="notifications">'),
    );
    const notifications = html.slice(html.indexOf('<section id="notifications">'));
    expect(messages).toContain("on the line");
    expect(messages).not.toContain("Payment failed");
    expect(notifications).toContain("System notifications in the Bitrix24 simulator");
    expect(notifications).toContain("<strong>Payment failed</strong>");
    expect(notifications).toContain("tag dunning:&lt;x&gt;");
    expect(notifications).toContain("replaced 2 earlier");
    expect(notifications).not.toContain("<script>");
  });

  it("shows an event's notification beside its digest outcome", () => {
    const html = renderSections(
      state({
        requests: [
          {
            seq: 1,
            at: new Date(AT).toISOString(),
            method: "POST",
            path: "/webhooks/app",
            status: 202,
            sourceId: "app",
            eventName: "order.paid",
            eventId: "e1",
            answer: { status: "accepted" },
            messages: 1,
            outcomes: [
              {
                jobId: "app:e1:0",
                outcome: "sent",
                reason: "sent in digest d-1",
                digestId: "d-1",
                notifiedAt: new Date(AT).toISOString(),
                notifyTag: "hookline:0",
                at: new Date(AT + 60_000).toISOString(),
              },
            ],
          },
        ],
      }),
    );
    expect(html).toMatch(
      /outcome-sent[\s\S]*notified .* \(tag hookline:0\)[\s\S]*sent in digest d-1/,
    );
  });
});
