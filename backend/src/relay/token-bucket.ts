/**
 * A token bucket: `ratePerSecond` on average, bursts of up to `burst`. `notified` lets a caller tell a sender once
 * per flood that its excess is dropped, rather than once per dropped message.
 */
export class TokenBucket {
  private tokens: number;
  private at = performance.now();
  notified = false;

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
  ) {
    this.tokens = burst;
  }

  take(now = performance.now()): boolean {
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) / 1000) * this.ratePerSecond);
    this.at = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    if (this.tokens >= this.burst - 1) this.notified = false; // a calm spell re-arms the notice
    return true;
  }
}
