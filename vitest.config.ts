import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Integration suites start their own servers on ephemeral ports; two workers match CI's two cores.
    maxWorkers: 2,
  },
});
