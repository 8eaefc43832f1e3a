import { describe, expect, it } from "vitest";
import { type EventListing, printEvents } from "../../cli/commands/events";
import { Output } from "../../cli/output";

/** `hookline events` prints both deliveries of an event that was notified, then digested. */
describe("hookline events and the second channel", () => {
  it("shows the notification, then the digest's outcome or its due time", () => {
    const out: string[] = [];
    const output = new Output(
      {
        stdout: { write: (text: string) => out.push(text), isTTY: false },
        stderr: { write: () => {}, isTTY: false },
        env: {},
        cwd: "/",
        fetch: async () => new Response(),
        now: () => new Date("2026-12-04T10:00:00Z"),
      },
      false,
    );
    const events: EventListing[] = [
      {
        sourceId: "stripe",
        eventId: "evt_1",
        eventName: "invoice.payment_failed",
        at: "2026-12-04T09:30:00.000Z",
        messages: [
          {
            jobId: "stripe:evt_1:0",
            outcome: "sent",
            reason: "sent in digest d-1",
            digestId: "d-1",
            notifiedAt: "2026-12-01T09:12:00.000Z",
            notifyTag: "dunning:cus_1",
          },
          {
            jobId: "stripe:evt_1:1",
            outcome: "notified",
            reason: "notified (system notification)",
            dueAt: "2026-12-08T09:00:00.000Z",
            notifiedAt: "2026-12-04T09:30:00.000Z",
            notifyTag: "hookline:1",
          },
        ],
      },
    ];
    printEvents(events, output, "the local run");
    const text = out.join("");
    expect(text).toMatch(
      /notified 2026-12-01 09:12.*\(tag dunning:cus_1\), then sent in digest d-1/,
    );
    expect(text).toMatch(
      /notified 2026-12-04 09:30.*\(tag hookline:1\); digest due 2026-12-08 09:00/,
    );
  });
});
