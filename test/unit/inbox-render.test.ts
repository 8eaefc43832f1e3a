import { describe, expect, it } from "vitest";
import { renderAttach, renderKeyboard } from "../../functions/local/inbox/attachments";
import { renderBbCode, renderInline } from "../../functions/local/inbox/bbcode";
import { type InboxState, renderSections } from "../../functions/local/inbox/page";
import type { LoggedRequest } from "../../functions/local/request-log";

describe("BB-codes drawn as Bitrix24 draws them", () => {
  it("draws b, i, u, s, links, mentions and line breaks", () => {
    expect(renderInline("[b]bold[/b] [i]it[/i] [u]u[/u] [s]s[/s]")).toBe(
      "<strong>bold</strong> <em>it</em> <u>u</u> <s>s</s>",
    );
    expect(renderInline("[URL=https://example.com/a?b=1&c=2]the [b]site[/b][/URL]")).toBe(
      '<a class="bx-link" href="https://example.com/a?b=1&amp;c=2" target="_blank" rel="noopener noreferrer">the <strong>site</strong></a>',
    );
    expect(renderInline("[url]https://example.com[/url]")).toContain('href="https://example.com/"');
    expect(renderInline("hi [USER=12]Anna[/USER]")).toBe(
      'hi <span class="bx-mention" data-user="12">Anna</span>',
    );
    expect(renderInline("one\ntwo[br]three")).toBe("one<br>two<br>three");
  });

  it("escapes every character of text, and links only http(s)", () => {
    expect(renderInline('<script>alert("x")</script> & \'')).toBe(
      "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;",
    );
    expect(renderInline("[url=javascript:alert(1)]click[/url]")).toBe("click");
    expect(renderInline('[url=https://x.example/" onmouseover="alert(1)]x[/url]')).toContain(
      'href="https://x.example/%22%20onmouseover=%22alert(1)"',
    );
    expect(renderInline("[USER=1 onclick=x]Anna[/USER]")).toBe("Anna");
  });

  it("leaves tags that never close, or close without opening, as text", () => {
    expect(renderInline("[b]open")).toBe("[b]open");
    expect(renderInline("close[/b]")).toBe("close[/b]");
    expect(renderInline("[b]a [i]b[/b]")).toBe("<strong>a [i]b</strong>");
  });

  it("draws >> quote lines and ------ blocks; a lone separator is a rule", () => {
    expect(renderBbCode(">>quoted\n>>[b]too[/b]\nafter")).toBe(
      '<blockquote class="bx-quote-line">quoted<br><strong>too</strong></blockquote><div class="bx-text">after</div>',
    );
    expect(renderBbCode("before\n------\nAnna\nsaid this\n------\nafter")).toBe(
      '<div class="bx-text">before</div><blockquote class="bx-quote"><div class="bx-text">Anna<br>said this</div></blockquote><div class="bx-text">after</div>',
    );
    expect(renderBbCode("------")).toBe('<hr class="bx-separator">');
  });
});

describe("ATTACH and KEYBOARD", () => {
  it("draws blocks in a coloured bar, whatever the shape", () => {
    const html = renderAttach({
      COLOR: "#ff0000",
      BLOCKS: [
        { MESSAGE: "[b]Invoice[/b] <1>" },
        { LINK: [{ NAME: "Open", LINK: "https://pay.example/1", DESC: "due today" }] },
        { DELIMITER: { SIZE: 200, COLOR: "#c8cbce" } },
        { GRID: [{ DISPLAY: "LINE", NAME: "Amount", VALUE: "$20" }] },
        { FILE: { NAME: "invoice.pdf", LINK: "https://pay.example/1.pdf", SIZE: 1024 } },
        { USER: { NAME: "Anna", LINK: "javascript:alert(1)" } },
      ],
    });
    expect(html).toContain('style="border-left-color:#ff0000"');
    expect(html).toContain(
      '<div class="bx-attach-message"><strong>Invoice</strong> &lt;1&gt;</div>',
    );
    expect(html).toContain('href="https://pay.example/1"');
    expect(html).toContain('<div class="bx-grid-name">Amount</div>');
    expect(html).toContain("invoice.pdf</a>");
    expect(html).toContain("👤 Anna</div>");
    expect(html).not.toContain("javascript:");
    expect(renderAttach([{ MESSAGE: "plain" }])).toContain("border-left-color:#2fc6f6");
    expect(renderAttach({ COLOR: "red;background:url(x)", BLOCKS: [] })).toContain(
      "border-left-color:#2fc6f6",
    );
    expect(renderAttach("not an attach")).toBe("");
  });

  it("draws link buttons in rows", () => {
    const html = renderKeyboard({
      BUTTONS: [
        { TEXT: "One", LINK: "https://a.example", BG_COLOR: "#29619b", TEXT_COLOR: "#fff" },
        { TYPE: "NEWLINE" },
        { TEXT: "<Two>", LINK: "data:text/html,x" },
      ],
    });
    expect(html).toBe(
      '<div class="bx-keyboard"><div class="bx-keyboard-row"><a class="bx-button" href="https://a.example/" target="_blank" rel="noopener noreferrer" style="background:#29619b;color:#fff">One</a></div><div class="bx-keyboard-row"><span class="bx-button bx-button-disabled">&lt;Two&gt;</span></div></div>',
    );
  });
});

describe("the inbox sections", () => {
  /** The sections with one request (`request` over a plain one), `digests` and nothing else. */
  const sectionsWith = (request: Partial<LoggedRequest>, digests: InboxState["digests"] = []) =>
    renderSections({
      sources: [],
      requests: [
        {
          seq: 1,
          at: "2026-11-25T09:00:00.000Z",
          method: "POST",
          path: "/webhooks/x",
          status: 400,
          answer: {},
          outcomes: [],
          ...request,
        },
      ],
      digests,
      messages: [],
    });

  it("escape what senders control in requests and digests", () => {
    const html = sectionsWith(
      {
        sourceId: "<b>x</b>",
        answer: { error: "bad_request", message: "missing <header>" },
      },
      [
        {
          portal: "p",
          openLineCode: "c",
          userId: 3,
          dueAt: "2026-12-02T09:05:00.000Z",
          events: [
            {
              jobId: "j",
              sourceId: "s",
              eventId: "<id>",
              eventName: "n",
              receivedAt: "2026-11-25T09:00:00.000Z",
              message: "m",
            },
          ],
        },
      ],
    );
    expect(html).toContain("&lt;b&gt;x&lt;/b&gt;");
    expect(html).toContain("missing &lt;header&gt;");
    expect(html).toContain('<span class="due">due 2026-12-02 09:05:00 UTC</span>');
    expect(html).toContain("&lt;id&gt;");
    expect(html).not.toContain("<b>x</b>");
  });

  it("shows a sender's bidi overrides and isolates instead of obeying them", () => {
    // The event name and id come from the signed body, which Bitrix24 never sees unescaped.
    const html = sectionsWith({
      path: "/webhooks/shop",
      sourceId: "shop",
      status: 202,
      answer: { status: "accepted" },
      eventName: "invoice\u202Efdp.exe",
      eventId: "\u2066evt\u2069",
    });
    expect(html).not.toMatch(/[\u202A-\u202E\u2066-\u2069]/);
    expect(html).toContain("invoice&lt;U+202E&gt;fdp.exe");
    expect(html).toContain("&lt;U+2066&gt;evt&lt;U+2069&gt;");
  });
});
