import { describe, expect, it } from "vitest";
import { onceUntilFailure } from "../../functions/core/once";

describe("onceUntilFailure", () => {
  it("builds once for concurrent and later callers", async () => {
    let builds = 0;
    const get = onceUntilFailure(async () => ++builds);
    expect(await Promise.all([get(), get(), get()])).toEqual([1, 1, 1]);
    expect(await get()).toBe(1);
    expect(builds).toBe(1);
  });

  it("forgets a failed build, so the next call tries again", async () => {
    let builds = 0;
    const get = onceUntilFailure(async () => {
      builds += 1;
      if (builds === 1) throw new Error("secret not set yet");
      return "ready";
    });
    await expect(get()).rejects.toThrow("secret not set yet");
    expect(await get()).toBe("ready");
    expect(builds).toBe(2);
  });
});
