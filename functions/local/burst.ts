/** How long after its last busy moment the local run counts as still taking a burst in. */
const BURST_QUIET_MS = 200;
/**
 * A burst: this many webhooks within {@link BURST_WINDOW_MS} (100 a second). One sender posting
 * by hand, with `hookline send` or from a test never reaches it. Counted by arrivals, not by
 * requests running at once: with the stores in memory, each request runs to its end in one turn
 * of the event loop, so two hardly ever overlap.
 */
const BURST_REQUESTS = 10;
const BURST_WINDOW_MS = 100;

/**
 * Whether webhooks are coming in as a burst, so deliver yields to ingest (the memory queue's
 * `yieldWhile`; docs/development.md, "The local run's stores").
 *
 * @example const burst = new BurstDetector(); burst.arrived(); if (burst.busy()) wait();
 */
export class BurstDetector {
  private windowStart = Number.NEGATIVE_INFINITY;
  private count = 0;
  private lastBurst = Number.NEGATIVE_INFINITY;

  constructor(private readonly now: () => number = Date.now) {}

  /** A webhook came in. */
  arrived(): void {
    const now = this.now();
    if (now - this.windowStart >= BURST_WINDOW_MS) {
      this.windowStart = now;
      this.count = 0;
    }
    this.count += 1;
    if (this.count >= BURST_REQUESTS) this.lastBurst = now;
  }

  busy(): boolean {
    return this.now() - this.lastBurst < BURST_QUIET_MS;
  }
}
