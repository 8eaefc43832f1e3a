/**
 * A clock the test moves by hand.
 *
 * @example const clock = new FakeClock(Date.parse("2030-01-07T09:00:00Z")); clock.advance(1000);
 */
export class FakeClock {
  constructor(public ms: number) {}
  now = (): Date => new Date(this.ms);
  advance(ms: number): void {
    this.ms += Math.max(0, ms);
  }
  set(ms: number): void {
    this.ms = ms;
  }
}
