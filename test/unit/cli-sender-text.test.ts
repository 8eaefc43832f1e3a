import { describe, expect, it } from "vitest";
import { printDoctor } from "../../cli/commands/doctor";
import { printReplay } from "../../cli/commands/replay";
import { printSend } from "../../cli/commands/send";
import { printSlot } from "../../cli/commands/slot";
import { Output } from "../../cli/output";
import type { SendReport } from "../../devkit/send-event";

/**
 * A job id holds the sender's event id: a Stripe `id` or a JSON path's value in the signed body,
 * any string up to 256 characters, control characters included. Printed as it is, an ESC in it
 * drives the operator's terminal (OSC 52 writes the clipboard, CSI moves the cursor over lines).
 */
const hostileEventId = "evt_1\u001b]52;c;Y3VybCBldmlsLmV4YW1wbGV8c2g=\u0007\u001b[2K\u001b[1A";
const jobId = `stripe:${hostileEventId}:0`;

function transcript() {
  const out: string[] = [];
  const output = new Output(
    {
      stdout: { write: (text: string) => out.push(text), isTTY: true },
      stderr: { write: (text: string) => out.push(text), isTTY: true },
      env: { NO_COLOR: "1" },
      cwd: "/",
      fetch: async () => new Response(),
      now: () => new Date("2026-12-04T10:00:00Z"),
    },
    false,
  );
  return { output, text: () => out.join("") };
}

/** What `hookline send` reports of a sample it posted, with the answer it got. */
const sent = (status: number, answer: unknown): SendReport => ({
  url: "http://127.0.0.1:3000/webhooks/stripe",
  source: "stripe",
  event: { name: "invoice.paid", id: "evt_1" },
  payload: "example",
  status,
  answer,
});

// biome-ignore lint/suspicious/noControlCharactersInRegex: they are what must not be written
const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;

describe("the CLI never writes a sender's control characters to the terminal", () => {
  it("hookline slot: the job holding the slot and its digest", () => {
    const { output, text } = transcript();
    printSlot(
      {
        portal: "main",
        openLineCode: "line",
        userId: 7,
        state: "pending",
        leaseUntil: "2026-12-04T10:05:00.000Z",
        holderJob: jobId,
        digestId: `digest:${hostileEventId}`,
      },
      output,
      new Date("2026-12-04T10:00:00Z"),
    );
    expect(text()).toContain("by stripe:evt_1");
    expect(text()).not.toMatch(CONTROL);
  });

  it("hookline replay --resend-unknown: the jobs to send again", () => {
    const { output, text } = transcript();
    printReplay(
      {
        target: "the local run",
        scope: { event: "stripe:evt_1" },
        moved: 0,
        resendable: [jobId],
      },
      output,
    );
    expect(text()).toContain("send again: stripe:evt_1");
    expect(text()).not.toMatch(CONTROL);
  });

  it("hookline replay --resend-unknown: a job id of the longest event id, whole", () => {
    const { output, text } = transcript();
    // A source id of 64, an event id of 256 and a route index: an id to copy, never clipped.
    const longest = `${"s".repeat(64)}:${"e".repeat(256)}:12`;
    printReplay(
      { target: "the local run", scope: { event: "x" }, moved: 0, resendable: [longest] },
      output,
    );
    expect(text()).toContain(longest);
  });

  it("hookline doctor: a portal's own error text in a check's detail", () => {
    const { output, text } = transcript();
    // What a portal (or whatever answers at its URL) sends back ends up in the detail line.
    printDoctor(
      {
        ok: false,
        checks: [
          {
            portal: "main",
            check: "scope",
            ok: false,
            detail: `portal answered: ${hostileEventId}`,
            fix: `see ${hostileEventId}`,
          },
        ],
      },
      output,
    );
    expect(text()).toContain("portal answered: evt_1");
    expect(text()).not.toMatch(CONTROL);
  });

  it("hookline send: an answer that is not JSON, from the URL it posted to", () => {
    const { output, text } = transcript();
    printSend(sent(502, `bad gateway ${hostileEventId}\nsecond line`), output);
    expect(text()).toContain("502 bad gateway evt_1");
    expect(text()).toContain("\nsecond line");
    expect(text()).not.toMatch(CONTROL);
  });

  it("hookline send: a JSON answer, whose C1 controls JSON.stringify leaves as they are", () => {
    const { output, text } = transcript();
    // U+009B is CSI on a terminal that reads C1 controls.
    printSend(sent(200, { status: "ignored", message: "no route \u009b2J matches" }), output);
    expect(text()).toContain('"status":"ignored"');
    expect(text()).not.toMatch(CONTROL);
  });
});
