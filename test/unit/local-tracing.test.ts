import { describe, expect, it } from "vitest";
import { localTracing } from "../../functions/local/local-tracing";

describe("npm start -- --trace", () => {
  it("names the OTLP endpoint on the terminal without the credentials in its URL", async () => {
    // Node's http sends a URL's user info as basic auth, so an endpoint may carry a collector's key.
    const started = await localTracing(
      { OTEL_EXPORTER_OTLP_ENDPOINT: "https://123456:glc_collector_key@otlp.example.com/otlp" },
      "hookline-test",
    );
    try {
      expect(started?.where).toContain("otlp.example.com/otlp");
      expect(started?.where).not.toContain("glc_collector_key");
      expect(started?.where).not.toContain("123456");
    } finally {
      await started?.tracing.shutdown();
    }
  });
});
