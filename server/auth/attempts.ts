// Failed share-link password attempts, counted per key (a link, a client address) over a sliding
// minute. Past the limit the caller is told how long to wait before the password is even checked,
// so guessing costs an attacker time and costs the server no hashing.
const WINDOW_MS = 60_000
/** keys remembered at most; the oldest go first (an attacker rotating addresses cannot grow this) */
const MAX_KEYS = 10_000

export class FailedAttempts {
  private readonly failures = new Map<string, number[]>()

  constructor(private readonly perMinute: number) {}

  /** Seconds until `keys` may try again (0: now). */
  retryAfter(keys: string[], now = Date.now()): number {
    let wait = 0
    for (const key of keys) {
      const recent = this.recent(key, now)
      if (recent.length >= this.perMinute) wait = Math.max(wait, Math.ceil((recent[recent.length - this.perMinute]! + WINDOW_MS - now) / 1000))
    }
    return wait
  }

  fail(keys: string[], now = Date.now()): void {
    for (const key of keys) {
      const recent = this.recent(key, now)
      recent.push(now)
      this.failures.delete(key)
      this.failures.set(key, recent)
      if (this.failures.size > MAX_KEYS) this.failures.delete(this.failures.keys().next().value!)
    }
  }

  private recent(key: string, now: number): number[] {
    const kept = (this.failures.get(key) ?? []).filter((at) => now - at < WINDOW_MS)
    if (kept.length === 0) this.failures.delete(key)
    return kept
  }
}
