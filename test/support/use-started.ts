import { afterAll, beforeAll } from "vitest";

/**
 * Something that runs for the enclosing `describe` (or file): started before its tests, closed
 * after them. What it returns stands for the running value, so tests read `sim.messages` as
 * usual; read before the start, it throws (`what` names it).
 *
 * @example const sim = useStarted("the simulator", () => startBitrixSimulator({ openLineCodes: [LINE] }));
 */
export function useStarted<T extends { close(): unknown }>(
  what: string,
  start: () => Promise<T>,
): T {
  let started: T | undefined;
  beforeAll(async () => {
    started = await start();
  });
  afterAll(() => started?.close());
  return new Proxy({} as T, {
    get: (_, name) => {
      if (!started) throw new Error(`${what} is not running yet (read it in a test)`);
      return Reflect.get(started, name);
    },
  });
}
