import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import type { WebhookDefinition } from "@octokit/webhooks-examples";
import { sign, verify } from "@octokit/webhooks-methods";
import { describe, expect, it } from "vitest";
import { sourceSchema } from "../../../functions/core/config";
import { BadRequestError, InvalidSignatureError } from "../../../functions/core/errors";
import { verifyEvent } from "../../../functions/core/sources";
import type { RawRequest } from "../../../functions/core/sources/request";

const SECRET = "It's a Secret to Everybody";
const OLD_SECRET = "the previous secret";
const source = sourceSchema.parse({ id: "gh", type: "github", secret: "env:GITHUB_SECRET" });
const now = new Date("2024-05-01T12:00:00Z");

const examplesPath = createRequire(import.meta.url).resolve("@octokit/webhooks-examples");
const definitions = JSON.parse(readFileSync(examplesPath, "utf8")) as WebhookDefinition[];
const examplesOf = (name: string): object[] =>
  definitions.find((definition) => definition.name === name)?.examples ?? [];

/** A request as GitHub sends it, signed with GitHub's own tooling. */
async function githubRequest(
  event: string,
  body: string,
  options: { secret?: string; contentType?: string; delivery?: string } = {},
): Promise<{ headers: Record<string, string>; body: Buffer }> {
  return {
    headers: {
      "content-type": options.contentType ?? "application/json",
      "x-github-event": event,
      "x-github-delivery": options.delivery ?? "72d3162e-cc78-11e3-81ab-4c9367dc0958",
      "x-hub-signature-256": await sign(options.secret ?? SECRET, body),
    },
    body: Buffer.from(body),
  };
}

const verify256 = (request: RawRequest, secrets: readonly string[] = [SECRET]) =>
  verifyEvent(source, secrets, request, now);

describe("github signature", () => {
  it("accepts GitHub's documented test vector", async () => {
    const request = {
      headers: {
        "x-hub-signature-256":
          "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
        "x-github-event": "ping",
        "x-github-delivery": "d1",
      },
      body: Buffer.from("Hello, World!"),
    };
    // The signature passes; only then does the non-JSON body fail, as a 400 and not a 401.
    await expect(verify256(request)).rejects.toThrow(BadRequestError);
    await expect(verify256(request, ["another secret"])).rejects.toThrow(InvalidSignatureError);
  });

  it("accepts a body signed by @octokit/webhooks-methods and agrees with its verify", async () => {
    const body = JSON.stringify({ zen: "Keep it logically awesome.", hook_id: 1 });
    const request = await githubRequest("ping", body);
    const signature = request.headers["x-hub-signature-256"] ?? "";
    expect(await verify(SECRET, body, signature)).toBe(true);
    await expect(verify256(request)).resolves.toMatchObject({ name: "ping" });
  });

  it("accepts any of several secrets (rotation)", async () => {
    const [push] = examplesOf("push");
    const request = await githubRequest("push", JSON.stringify(push));
    await expect(verify256(request, [OLD_SECRET, SECRET])).resolves.toMatchObject({
      name: "push",
    });
  });

  it("rejects a wrong secret", async () => {
    const request = await githubRequest("push", "{}", { secret: "not the secret" });
    await expect(verify256(request)).rejects.toThrow(InvalidSignatureError);
  });

  it("rejects a body with one byte changed", async () => {
    const request = await githubRequest("push", JSON.stringify({ ref: "refs/heads/main" }));
    const tampered = Buffer.from(request.body);
    tampered[tampered.length - 3] = "x".charCodeAt(0);
    await expect(verify256({ ...request, body: tampered })).rejects.toThrow(InvalidSignatureError);
  });

  it("rejects a missing, unprefixed or truncated signature", async () => {
    const request = await githubRequest("push", "{}");
    const signature = request.headers["x-hub-signature-256"] ?? "";
    const withSignature = (value: string | undefined) => ({
      ...request,
      headers: { ...request.headers, "x-hub-signature-256": value },
    });
    await expect(verify256(withSignature(undefined))).rejects.toThrow(
      /missing X-Hub-Signature-256/,
    );
    await expect(verify256(withSignature(signature.slice(7)))).rejects.toThrow(
      InvalidSignatureError,
    );
    await expect(verify256(withSignature(signature.slice(0, -2)))).rejects.toThrow(
      InvalidSignatureError,
    );
  });

  it("checks the signature before anything else", async () => {
    const request = {
      headers: { "x-hub-signature-256": "sha256=00" },
      body: Buffer.from("not json"),
    };
    await expect(verify256(request)).rejects.toThrow(InvalidSignatureError);
  });
});

const sha256 = (body: Buffer | string) => createHash("sha256").update(body).digest("hex");

describe("github events", () => {
  it.each(["issues", "pull_request"])(
    "names real %s payloads <event>.<action> and keeps the payload",
    async (event) => {
      const examples = examplesOf(event);
      expect(examples.length).toBeGreaterThan(5);
      for (const example of examples) {
        const request = await githubRequest(event, JSON.stringify(example), { delivery: "abc-1" });
        const verified = await verify256(request);
        expect(verified).toEqual({
          id: "abc-1",
          name: `${event}.${(example as { action: string }).action}`,
          payload: example,
          contentHash: sha256(request.body),
        });
      }
    },
  );

  it("names real push payloads (no action) by the event alone", async () => {
    const examples = examplesOf("push");
    expect(examples.length).toBeGreaterThan(0);
    for (const example of examples) {
      const verified = await verify256(await githubRequest("push", JSON.stringify(example)));
      expect(verified.name).toBe("push");
      expect(verified.payload).toEqual(example);
    }
  });

  it("reads form-encoded bodies (payload=<json>), signed as sent", async () => {
    const example = examplesOf("issues").find(
      (e) => (e as { action?: string }).action === "opened",
    );
    expect(example).toBeDefined();
    const body = `payload=${encodeURIComponent(JSON.stringify(example))}`;
    const request = await githubRequest("issues", body, {
      contentType: "application/x-www-form-urlencoded; charset=utf-8",
    });
    await expect(verify256(request)).resolves.toEqual({
      id: "72d3162e-cc78-11e3-81ab-4c9367dc0958",
      name: "issues.opened",
      payload: example,
      contentHash: sha256(request.body),
    });
  });

  it("decides the encoding from the signed bytes: a JSON body relabelled as a form is refused", async () => {
    // Anyone can write `&payload=<url-encoded JSON>&` into a comment on a public repository;
    // GitHub then signs a JSON delivery that holds it. Replayed as a form, the old code read the
    // planted payload instead of the event GitHub sent.
    const [real] = examplesOf("issue_comment");
    expect(real).toBeDefined();
    const planted = { action: "opened", issue: { title: "planted", user: { id: 1 } } };
    const comment = `see &payload=${encodeURIComponent(JSON.stringify(planted))}&`;
    const example = structuredClone(real) as { comment: { body: string } };
    example.comment.body = comment;
    const json = await githubRequest("issue_comment", JSON.stringify(example));
    await expect(verify256(json)).resolves.toMatchObject({ payload: example });

    const replayed = {
      ...json,
      headers: { ...json.headers, "content-type": "application/x-www-form-urlencoded" },
    };
    await expect(verify256(replayed)).rejects.toThrow(BadRequestError);
  });

  it("refuses an X-GitHub-Event that is no event name: a dot in it slipped past the event check", async () => {
    // The header is unsigned. `issues.closed` is no key of the event table, so any captured body
    // passed under it and was named `issues.closed` (a push has no action); with an action, it
    // was `issues.x.<action>`, which a route on `issues.*` takes.
    const [push] = examplesOf("push");
    const [comment] = examplesOf("issue_comment");
    const relabelled = [
      await githubRequest("issues.closed", JSON.stringify(push)),
      await githubRequest("issues.x", JSON.stringify(comment)),
      await githubRequest("issues ", JSON.stringify(comment)),
      await githubRequest("Issues", JSON.stringify(comment)),
    ];
    for (const request of relabelled) {
      await expect(verify256(request)).rejects.toThrow(/X-GitHub-Event is not a GitHub event name/);
    }
    // Every event name GitHub sends, as its examples name them, still passes the check.
    for (const { name, examples } of definitions) {
      const [example] = examples;
      if (example === undefined) continue;
      await expect(
        verify256(await githubRequest(name, JSON.stringify(example))),
      ).resolves.toBeDefined();
    }
  });

  it("refuses a form body sent as JSON, and JSON sent under another media type", async () => {
    const [example] = examplesOf("push");
    const form = `payload=${encodeURIComponent(JSON.stringify(example))}`;
    await expect(verify256(await githubRequest("push", form))).rejects.toThrow(
      /does not match its Content-Type/,
    );
    const json = await githubRequest("push", JSON.stringify(example), {
      contentType: "text/plain",
    });
    await expect(verify256(json)).rejects.toThrow(/does not match its Content-Type/);
    const noType = await githubRequest("push", JSON.stringify(example));
    delete noType.headers["content-type"];
    await expect(verify256(noType)).resolves.toMatchObject({ name: "push" });
  });

  it("rejects a form-encoded body without exactly one payload field as a bad request", async () => {
    const contentType = "application/x-www-form-urlencoded";
    const other = await githubRequest("issues", "other=1", { contentType });
    await expect(verify256(other)).rejects.toThrow(/does not match its Content-Type/);
    const twoFields = await githubRequest("issues", "payload=%7B%7D&payload=%7B%7D", {
      contentType,
    });
    await expect(verify256(twoFields)).rejects.toThrow(/one payload field/);
  });

  it("rejects malformed JSON or a non-object after a valid signature as a bad request", async () => {
    for (const body of ['{"action": "opened"', "[1, 2]", "null", '"text"']) {
      const request = await githubRequest("issues", body);
      await expect(verify256(request)).rejects.toThrow(BadRequestError);
    }
  });

  it.each(["x-github-event", "x-github-delivery"])(
    "rejects a validly signed request without %s as a bad request",
    async (name) => {
      const request = await githubRequest("issues", "{}");
      const headers = { ...request.headers, [name]: undefined };
      const error = await verify256({ ...request, headers }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(BadRequestError);
      expect((error as Error).message).toContain(name);
    },
  );
});
