import { describe, expect, it } from "vitest";
import { showRequest } from "../../functions/local/inbox/mask";

/** What the inbox shows of a stored request: secrets masked, everything else as it came. */
describe("showRequest", () => {
  const show = (headers: Record<string, string>, body: string) =>
    showRequest({ headers, body: Buffer.from(body) });

  it.each([
    [
      "stripe-signature",
      "t=1700000000,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd",
      "t=17… (masked, 80 characters)",
    ],
    ["x-hub-signature-256", "sha256=abcdef0123", "sha2… (masked, 17 characters)"],
    ["authorization", "Bearer abc", "Bear… (masked, 10 characters)"],
    ["x-gitlab-token", "abc", "… (masked)"],
    ["content-type", "application/json", "application/json"],
    ["webhook-id", "msg_1", "msg_1"],
  ])("header %s", (name, value, shown) => {
    expect(show({ [name]: value }, "").headers).toEqual([[name, shown]]);
  });

  it("masks secret-named JSON fields at any depth, keeps the rest, and pretty-prints", () => {
    const body = JSON.stringify({
      id: "evt_1",
      assignee: "octocat",
      author: { name: "Jane" },
      data: { object: { client_secret: "pi_123_secret_456", items: [{ api_key: "key_live_1" }] } },
    });
    const shown = JSON.parse(show({}, body).body);
    expect(shown).toEqual({
      id: "evt_1",
      assignee: "octocat",
      author: { name: "Jane" },
      data: {
        object: {
          client_secret: "pi_1… (masked, 17 characters)",
          items: [{ api_key: "key_… (masked, 10 characters)" }],
        },
      },
    });
  });

  it("shows no secret of a body nested too deep to mask: it fails closed", () => {
    // Masking recurses; a body nested deeper than the stack overflowed it, and the body was shown
    // as it came, secrets and all.
    const deep = `${"[".repeat(20_000)}1${"]".repeat(20_000)}`;
    const body = `{"api_key":"key_live_1","client_secret":"pi_123_secret_456","deep":${deep}}`;
    for (const sent of [body, `payload=${encodeURIComponent(body)}`]) {
      const shown = show({}, sent).body;
      expect(shown).not.toContain("key_live_1");
      expect(shown).not.toContain("pi_123_secret_456");
      expect(shown).toMatch(/nested too deep to mask/);
    }
  });

  it("masks form fields, and shows other text as it came", () => {
    expect(show({}, "payload=%7B%7D&token=abcdefgh").body).toBe(
      "payload={}\ntoken=abcd… (masked, 8 characters)",
    );
    expect(show({}, "plain text <b>").body).toBe("plain text <b>");
  });

  it("masks secret-named fields of the JSON inside a form field, as in a JSON body", () => {
    // GitHub's form encoding: the JSON payload is one url-encoded field.
    const payload = JSON.stringify({ id: 1, hook: { config: { secret: "hook-secret-1" } } });
    expect(show({}, `payload=${encodeURIComponent(payload)}`).body).toBe(
      'payload={"id":1,"hook":{"config":{"secret":"hook… (masked, 13 characters)"}}}',
    );
    expect(show({}, "count=1.0&flag=true").body).toBe("count=1.0\nflag=true");
  });

  it("shows a payload's bidi overrides instead of obeying them", () => {
    expect(show({}, JSON.stringify({ text: "a\u202Eb" })).body).toBe(
      '{\n  "text": "a<U+202E>b"\n}',
    );
  });

  it("cuts a very large body", () => {
    const shown = show({}, "x".repeat(100_000));
    expect(shown.body).toHaveLength(65_536);
    expect(shown.truncated).toBe(65_536);
  });
});
