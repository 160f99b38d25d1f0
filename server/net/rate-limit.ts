// A token bucket: `rate` messages per second on average, bursts up to `burst`.
export class TokenBucket {
  private tokens: number
  private last: number

  constructor(
    private readonly rate: number,
    private readonly burst: number,
    now = Date.now(),
  ) {
    this.tokens = burst
    this.last = now
  }

  take(now = Date.now()): boolean {
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.rate)
    this.last = now
    if (this.tokens < 1) return false
    this.tokens -= 1
    return true
  }
}

/**
 * At most `perWindow` log lines per `windowMs`; the rest are counted and reported as one line when
 * the next window opens, so a flood of refusals cannot flood the operational log.
 */
export class LogThrottle {
  private windowStart = 0
  private inWindow = 0
  private suppressed = 0

  constructor(
    private readonly perWindow: number,
    private readonly windowMs: number,
  ) {}

  /** Whether to write this line; `onSuppressed` first hears how many were dropped before it. */
  allow(onSuppressed: (count: number) => void, now = Date.now()): boolean {
    if (now - this.windowStart >= this.windowMs) {
      if (this.suppressed > 0) onSuppressed(this.suppressed)
      this.windowStart = now
      this.inWindow = 0
      this.suppressed = 0
    }
    if (this.inWindow >= this.perWindow) {
      this.suppressed++
      return false
    }
    this.inWindow++
    return true
  }
}
