import { describe, expect, it } from "vitest";
import { InvalidSignatureError } from "../../../functions/core/errors";
import {
  assertFresh,
  equalInConstantTime,
  signedByAny,
} from "../../../functions/core/sources/signature";

const GITHUB_VECTOR = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
const hello = {
  algorithm: "sha256",
  encoding: "hex",
  parts: [Buffer.from("Hello, World!")],
} as const;

describe("signedByAny", () => {
  it("matches GitHub's published vector", () => {
    expect(signedByAny(["It's a Secret to Everybody"], hello, [GITHUB_VECTOR])).toBe(true);
    expect(signedByAny(["It's a secret to everybody"], hello, [GITHUB_VECTOR])).toBe(false);
  });

  it("hashes the parts as one message, without needing them joined", () => {
    const split = { ...hello, parts: ["Hello, ", Buffer.from("World!")] };
    expect(signedByAny(["It's a Secret to Everybody"], split, [GITHUB_VECTOR])).toBe(true);
  });

  it("matches any key against any candidate, and nothing without candidates or keys", () => {
    const keys = ["old", "It's a Secret to Everybody"];
    expect(signedByAny(keys, hello, ["00", GITHUB_VECTOR])).toBe(true);
    expect(signedByAny(keys, hello, [])).toBe(false);
    expect(signedByAny([], hello, [GITHUB_VECTOR])).toBe(false);
  });

  it("compares the encoded form exactly (no case folding, no truncation)", () => {
    const key = ["It's a Secret to Everybody"];
    expect(signedByAny(key, hello, [GITHUB_VECTOR.toUpperCase()])).toBe(false);
    expect(signedByAny(key, hello, [GITHUB_VECTOR.slice(0, 32)])).toBe(false);
    expect(signedByAny(key, hello, [`${GITHUB_VECTOR}00`])).toBe(false);
  });

  it("compares the text as sent: a character outside Latin-1 is not its low byte", () => {
    // Headers arrive as strings; U+0163 cut to a Latin-1 byte is 0x63, "c": the same signature.
    const aliased = GITHUB_VECTOR.replaceAll("c", "\u0163");
    expect(aliased).not.toBe(GITHUB_VECTOR);
    expect(signedByAny(["It's a Secret to Everybody"], hello, [aliased])).toBe(false);
  });
});

describe("equalInConstantTime", () => {
  it("is false on a length mismatch instead of throwing", () => {
    expect(equalInConstantTime(Buffer.from("abc"), Buffer.from("abcd"))).toBe(false);
    expect(equalInConstantTime(Buffer.from("abc"), Buffer.from("abc"))).toBe(true);
  });
});

describe("assertFresh", () => {
  const now = new Date("2024-05-01T12:00:00.900Z");
  const seconds = Math.floor(now.getTime() / 1000);

  it("accepts timestamps within tolerance in both directions, inclusive", () => {
    expect(() => assertFresh(String(seconds - 300), now, 300)).not.toThrow();
    expect(() => assertFresh(String(seconds + 300), now, 300)).not.toThrow();
  });

  it("rejects timestamps beyond tolerance and anything that is not plain seconds", () => {
    for (const timestamp of [
      String(seconds - 301),
      String(seconds + 301),
      "",
      "-5",
      "1.5e9",
      `${seconds}000`,
      " 1714564800",
    ]) {
      expect(() => assertFresh(timestamp, now, 300)).toThrow(InvalidSignatureError);
    }
  });
});
