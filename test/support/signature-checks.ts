import { expect } from "vitest";

/**
 * Expects a scheme's default tolerance (300 s) to hold in both directions: a request signed 301 s
 * before `nowSeconds` is too old, one signed 301 s after it is from the future.
 *
 * @example await expectTimestampWindow((timestamp) => verify(sign(body, { timestamp })), nowSeconds);
 */
export async function expectTimestampWindow(
  verifySignedAt: (timestamp: number) => Promise<unknown>,
  nowSeconds: number,
): Promise<void> {
  await expect(verifySignedAt(nowSeconds - 301)).rejects.toThrow(/too old/);
  await expect(verifySignedAt(nowSeconds + 301)).rejects.toThrow(/future/);
}
