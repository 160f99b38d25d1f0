// When a failed delivery is tried again, as pure functions: Standard Webhooks' schedule with
// jitter, a 429's Retry-After honoured, and the point where an endpoint has failed long enough.

/** Delays after the 1st, 2nd, … failed attempt (the first attempt is immediate). */
export const RETRY_DELAYS_MS = [5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 86_400_000]

/** An endpoint failing for this long is disabled. */
export const FAILING_LIMIT_MS = 86_400_000

export interface RetryPlan {
  /** ms from now; null when the retries are used up */
  delayMs: number | null
}

/**
 * `scale` compresses the whole schedule (tests); `random` in [0, 1) spreads retries ±20 % so
 * endpoints that failed together do not retry together.
 */
export function nextRetry(failedAttempts: number, scale: number, random: number, retryAfterMs?: number): RetryPlan {
  const base = RETRY_DELAYS_MS[failedAttempts - 1]
  if (base === undefined) return { delayMs: null }
  const jittered = base * scale * (0.8 + 0.4 * random)
  return { delayMs: Math.round(Math.max(jittered, retryAfterMs ?? 0)) }
}

/** A Retry-After header (seconds or an HTTP date) in ms from `now`, capped at a day. */
export function parseRetryAfter(header: string | null, now: number): number | undefined {
  if (!header) return undefined
  const seconds = Number(header)
  const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(header) - now
  if (!Number.isFinite(ms) || ms < 0) return undefined
  return Math.min(ms, FAILING_LIMIT_MS)
}

export function failingTooLong(failingSince: number | null, now: number, scale: number): boolean {
  return failingSince !== null && now - failingSince >= FAILING_LIMIT_MS * scale
}
