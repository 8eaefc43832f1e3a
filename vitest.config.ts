import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Generous bounds: the suite must pass on a busy two-core laptop (other processes using the
    // cores and memory), where a test that takes 3 s on an idle machine can take ten times that.
    // Tests wait on events or poll with bounds like these; none asserts how long something took.
    testTimeout: 60_000,
    // DynamoDB Local's JVM start (up to two tries of 90 s each, test/support/dynamo-servers.ts).
    hookTimeout: 240_000,
    teardownTimeout: 60_000,
    // Integration suites start their own servers on ephemeral ports; two workers match CI's two cores.
    maxWorkers: 2,
    // The AWS SDK's own switch for its "Node 22 from 2027" warning, printed once per worker.
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true" },
  },
});
