import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Integration suites start their own servers on ephemeral ports; two workers match CI's two cores.
    maxWorkers: 2,
    // The AWS SDK's own switch for its "Node 22 from 2027" warning, printed once per worker.
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true" },
  },
});
