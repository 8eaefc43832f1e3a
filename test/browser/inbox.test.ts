import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { examplePayload } from "../../devkit/examples";
import { makeInbox } from "../../functions/local/inbox/index";
import { postWebhook, startTestBridge, TEST_SECRETS, testConfig } from "../support/bridge";
import {
  githubExamples,
  githubRequest,
  shopRequest,
  standardWebhookRequest,
  stripeRequest,
} from "../support/signers";

/** Debian's Chromium (`apt-get install chromium`, which .ci/run does); never a downloaded build. */
const CHROMIUM = process.env.HOOKLINE_CHROMIUM ?? "/usr/bin/chromium";
const found = existsSync(CHROMIUM);
if (!found) {
  console.warn(
    `SKIPPED: the inbox browser test needs Chromium at ${CHROMIUM} (apt-get install chromium, or set HOOKLINE_CHROMIUM)`,
  );
}

const ARTIFACTS = join(process.cwd(), "test-artifacts");
const TABLE = "hookline-inbox";
/** The page polls once a second; a loaded CI machine may take a few rounds. */
const PATIENCE = { timeout: 15_000, interval: 100 };

const config = testConfig({
  routes: [
    {
      source: "github",
      events: ["issues.opened"],
      userId: "{{ payload.sender.id | lookup: 'githubUsers' }}",
      message:
        "Issue [b]{{ payload.issue.title }}[/b] opened by {{ payload.sender.login }} on [url=https://github.com]GitHub[/url]",
      keyboard: [{ TEXT: "Open the issue", LINK: "{{ payload.issue.html_url }}" }],
    },
    {
      source: "stripe",
      events: ["invoice.*"],
      userId: "{{ payload.data.object.customer | lookup: 'stripeCustomers' }}",
      message:
        "Payment of {{ payload.data.object.amount_due | money: payload.data.object.currency }} failed",
      attach: [
        { MESSAGE: "Invoice [b]{{ payload.data.object.number }}[/b]" },
        {
          LINK: {
            NAME: "Open the invoice",
            LINK: "{{ payload.data.object.hosted_invoice_url }}",
          },
        },
      ],
    },
    {
      source: "app",
      events: ["order.*"],
      userId: "{{ payload.data.bitrixUserId }}",
      message: "Order {{ payload.data.orderId }} is {{ payload.data.status }}",
    },
    {
      source: "shop",
      events: ["*"],
      userId: "{{ payload.userId }}",
      message: "{{ payload.text }}",
    },
    {
      source: "shop",
      events: ["photo"],
      userId: "{{ payload.photoUser }}",
      message: "A photo",
      attach: [
        { IMAGE: { NAME: "the photo", LINK: "{{ payload.image }}" } },
        { LINK: { NAME: "Its page", LINK: "{{ payload.image }}", PREVIEW: "{{ payload.image }}" } },
      ],
    },
  ],
  lookups: { githubUsers: { "21031067": 7 }, stripeCustomers: { cus_local_demo: 8 } },
});

/** Signed as the `shop` source's sender signs. */
const shop = (payload: object) => shopRequest(TEST_SECRETS.SHOP_SECRET, payload);

describe.skipIf(!found)("the inbox in Chromium", () => {
  let bridge: Awaited<ReturnType<typeof startTestBridge>>;
  let context: BrowserContext;
  let page: Page;
  const profile = mkdtempSync(join(tmpdir(), "hookline-chromium-"));

  beforeAll(async () => {
    bridge = await startTestBridge(config, {
      tableName: TABLE,
      pages: (running) => [
        makeInbox({ config, env: TEST_SECRETS, tableName: TABLE, bridge: running }),
      ],
    });
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
    page = context.pages()[0] ?? (await context.newPage());
  });

  afterAll(async () => {
    await context?.close();
    await bridge?.close();
    rmSync(profile, { recursive: true, force: true });
  });

  it("shows messages as Bitrix24 draws them, outcomes, a deferred event's due time and a 401's reason", async () => {
    const issue = githubExamples("issues", "opened")[0] as { issue: Record<string, unknown> };
    const hostileTitle = 'Spelling error <img src=x onerror="document.title=1">';
    const github = await githubRequest(TEST_SECRETS.GITHUB_SECRET, "issues", {
      ...issue,
      issue: { ...issue.issue, title: hostileTitle },
    });
    expect((await postWebhook(bridge, "github", github)).status).toBe(202);
    const invoice = examplePayload("stripe", "invoice.payment_failed");
    expect(
      (await postWebhook(bridge, "stripe", stripeRequest(TEST_SECRETS.STRIPE_SECRET, invoice)))
        .status,
    ).toBe(202);
    /** Posts a signed `order.paid` for user 9 to the app source; its answer's status. */
    const postOrder = async (orderId: string) => {
      const order = { type: "order.paid", data: { orderId, status: "paid", bitrixUserId: 9 } };
      const request = standardWebhookRequest(TEST_SECRETS.APP_SECRET, order);
      return (await postWebhook(bridge, "app", request)).status;
    };
    expect(await postOrder("A-1")).toBe(202);
    await bridge.queue.idle();
    expect(await postOrder("A-2")).toBe(202);
    const forged = await githubRequest("not the secret", "issues", { action: "opened" });
    expect((await postWebhook(bridge, "github", forged)).status).toBe(401);
    await bridge.queue.idle();

    await page.goto(`${bridge.url}/_inbox`);

    // A bold title, escaped: the hostile markup is text, not an element.
    const title = page.locator(".bx-message strong", { hasText: "Spelling error" });
    // (The escape may fence a value's edge with an invisible character: hence "contain".)
    await expect.poll(() => title.first().textContent(), PATIENCE).toContain(hostileTitle);
    expect(await page.locator('img[src="x"]').count()).toBe(0);
    expect(await page.title()).toBe("hookline inbox");
    // Links: a [url] in the text and a KEYBOARD button.
    expect(await page.locator("a.bx-link", { hasText: "GitHub" }).getAttribute("href")).toBe(
      "https://github.com/",
    );
    expect(
      await page.locator("a.bx-button", { hasText: "Open the issue" }).getAttribute("href"),
    ).toBe("https://github.com/Codertocat/Hello-World/issues/1");
    // An ATTACH block: its message with BB-codes and its link.
    const attach = page.locator(".bx-attach");
    expect(await attach.locator(".bx-attach-message strong").textContent()).toBe("A1B2C3D4-0007");
    expect(await attach.locator(".bx-attach-link a").textContent()).toBe("Open the invoice");
    // The second order for user 9 waits in a digest, with its due time.
    const digest = page.locator('.digest[data-user="9"]');
    expect(await digest.locator(".due").textContent()).toMatch(
      /^due \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC$/,
    );
    expect(await page.locator(".outcome", { hasText: "deferred" }).first().textContent()).toMatch(
      /deferred user 9 digest due \d{4}-\d{2}-\d{2}/,
    );
    expect(await page.locator(".outcome", { hasText: "sent" }).count()).toBeGreaterThanOrEqual(3);
    // The 401 with its reason.
    const rejected = page.locator("tr.request", { hasText: "401 invalid_signature" });
    expect(await rejected.locator(".reason").textContent()).toBe(
      "X-Hub-Signature-256 does not match any configured secret",
    );

    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, "inbox.png"), fullPage: true });
  });

  it("updates live, and its send-sample button goes through the same code as hookline send", async () => {
    await page.goto(`${bridge.url}/_inbox`);
    const before = await page.locator("tr.request").count();
    await page.locator('button[data-source="shop"]').click();
    await expect
      .poll(() => page.locator("#send-result").textContent(), PATIENCE)
      .toMatch(/^shop .*: 202 /);
    await expect.poll(() => page.locator("tr.request").count(), PATIENCE).toBe(before + 1);
    expect(await page.locator("tr.request").first().textContent()).toContain("202 accepted");
  });

  it("shows why a message failed to render on its request", async () => {
    const bad = shop({ id: "bad-user", event: "note", userId: "nobody", text: "hi" });
    expect((await postWebhook(bridge, "shop", bad)).status).toBe(202);
    await page.goto(`${bridge.url}/_inbox`);
    const row = page.locator("tr.request", { hasText: "bad-user" });
    await expect.poll(() => row.locator(".outcome").textContent(), PATIENCE).toContain("failed");
    expect(await row.locator(".outcome .reason").textContent()).toContain("userId");
  });

  it("makes no favicon.ico row", async () => {
    const favicon = await fetch(`${bridge.url}/favicon.ico`);
    expect(favicon.status).toBeLessThan(300);
    await page.goto(`${bridge.url}/_inbox`);
    await page.waitForLoadState("load");
    expect(bridge.requestLog.recent().filter((entry) => entry.path.includes("favicon"))).toEqual(
      [],
    );
  });

  it("keeps rows readable at 700 px wide", async () => {
    await page.setViewportSize({ width: 700, height: 900 });
    try {
      await page.goto(`${bridge.url}/_inbox`);
      await page.locator("tr.request").first().waitFor();
      // Nothing scrolls sideways, and a row's reason gets most of the width, not a sliver.
      expect(
        await page.evaluate<number>("document.documentElement.scrollWidth"),
      ).toBeLessThanOrEqual(700);
      const cells = await page
        .locator("tr.request")
        .first()
        .locator("td")
        .evaluateAll((tds) =>
          tds.map((td) => ({ name: td.className, width: td.getBoundingClientRect().width })),
        );
      const detail = cells.find((cell) => cell.name === "detail");
      expect(detail?.width).toBeGreaterThanOrEqual(400);
      for (const cell of cells) expect(cell.width, cell.name).toBeGreaterThanOrEqual(60);
      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: join(ARTIFACTS, "inbox-700.png"), fullPage: true });
    } finally {
      await page.setViewportSize({ width: 1280, height: 900 });
    }
  });

  it("opens a request to show its headers and payload, secrets masked", async () => {
    const payload = {
      id: "open-me",
      event: "note",
      userId: 31,
      text: "see me",
      apiToken: "tok_live_SECRET1",
    };
    const request = shop(payload);
    expect((await postWebhook(bridge, "shop", request)).status).toBe(202);
    await page.goto(`${bridge.url}/_inbox`);
    const row = page.locator("tr.request", { hasText: "open-me" });
    await row.locator("button.open").click();
    const viewer = page.locator("#viewer");
    await expect
      .poll(() => viewer.textContent(), PATIENCE)
      .toContain("content-type: application/json");
    const text = (await viewer.textContent()) ?? "";
    expect(text).toContain('"text": "see me"');
    expect(text).toContain("x-shop-signature: sha2…");
    expect(text).not.toContain(request.headers["x-shop-signature"]);
    expect(text).not.toContain("tok_live_SECRET1");
    expect(text).toContain('"apiToken": "tok_…');
  });

  it("replays a stored request through the normal path: the receipt says duplicate", async () => {
    const request = shop({ id: "replay-me", event: "note", userId: 32, text: "once" });
    expect((await postWebhook(bridge, "shop", request)).status).toBe(202);
    await bridge.queue.idle();
    const sent = bridge.simulator?.messages.filter((m) => m.userId === 32).length;
    await page.goto(`${bridge.url}/_inbox`);
    const before = await page.locator("tr.request").count();
    await page.locator("tr.request", { hasText: "replay-me" }).locator("button.replay").click();
    await expect
      .poll(() => page.locator("#send-result").textContent(), PATIENCE)
      .toMatch(/^replay .*: 200 .*duplicate/);
    await expect.poll(() => page.locator("tr.request").count(), PATIENCE).toBe(before + 1);
    expect(await page.locator("tr.request").first().textContent()).toContain("200 duplicate");
    await bridge.queue.idle();
    expect(bridge.simulator?.messages.filter((m) => m.userId === 32).length).toBe(sent);
    // A replay from anywhere but the page is refused, like a sample.
    const seq = bridge.requestLog.recent()[0]?.seq;
    expect((await fetch(`${bridge.url}/_inbox/replay/${seq}`, { method: "POST" })).status).toBe(
      403,
    );
  });

  it("draws a sender's images as placeholders with their URL, and loads nothing from the sender's host", async () => {
    const image = "http://images.sender.example/cat.png";
    const photo = shop({
      id: "photo-1",
      event: "photo",
      userId: 33,
      photoUser: 34,
      text: "photo",
      image,
    });
    expect((await postWebhook(bridge, "shop", photo)).status).toBe(202);
    await bridge.queue.idle();
    const requested: string[] = [];
    const onRequest = (request: { url(): string }) => requested.push(request.url());
    page.on("request", onRequest);
    try {
      await page.goto(`${bridge.url}/_inbox`);
      const message = page.locator('.message[data-user="34"]');
      await message.waitFor();
      expect(await message.locator("img").count()).toBe(0);
      const placeholders = message.locator("a.bx-image-placeholder");
      expect(await placeholders.count()).toBe(2);
      expect(await placeholders.first().getAttribute("href")).toBe(image);
      expect(await placeholders.first().textContent()).toContain(image);
      // A few polls later, still nothing but the inbox itself was asked for.
      await expect
        .poll(() => requested.filter((url) => url.includes("/_inbox/sections")).length, PATIENCE)
        .toBeGreaterThanOrEqual(2);
      expect(requested.filter((url) => !url.startsWith(bridge.url))).toEqual([]);
    } finally {
      page.off("request", onRequest);
    }
  });

  it("refuses a send that does not come from the page", async () => {
    const response = await fetch(`${bridge.url}/_inbox/send/shop`, { method: "POST" });
    expect(response.status).toBe(403);
  });
});
