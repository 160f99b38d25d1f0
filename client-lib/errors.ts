// One error class with a `code`, so callers branch on what happened without importing a class per
// case, and every message says what went wrong and what to do about it.

export type ErrorCode =
  /** a bad argument, caught before anything was sent */
  | 'invalid-argument'
  /** the server refused a write (undone, or over REST: HTTP 409); the message carries the server's reason */
  | 'refused'
  /** the wait for a lock ran out (`waitMs`) */
  | 'timeout'
  /** the server recorded the claim as malformed */
  | 'invalid'
  /** an admin force-released the lock */
  | 'revoked'
  /** the lock's `ttlMs` ran out */
  | 'expired'
  /** the lock or claim is gone, or cannot be trusted after a disconnect longer than the grace period */
  | 'lost'
  /** the caller's AbortSignal fired */
  | 'aborted'
  /** the client was closed, or the server closed the connection for good */
  | 'closed'
  /** the server could not be reached */
  | 'unreachable'
  /** the token is missing, malformed or expired, or the server rejected it */
  | 'unauthorized'
  /** the token does not allow this (role, workspace, agents voting) */
  | 'forbidden'
  /** no such approval, or an id that matches several */
  | 'not-found'
  /** a REST call failed */
  | 'http'
  /** a webhook delivery's signature or timestamp did not verify */
  | 'bad-signature'

/** What the server answered to a REST call that failed: a page shows `message`, not the URL. */
export interface HttpFailure {
  status: number
  /** the server's readable reason (`{error}` of the response) */
  message: string
}

export class HuddleError extends Error {
  override readonly name = 'HuddleError'
  /** set when a REST call failed with an HTTP status */
  readonly http?: HttpFailure

  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown; http?: HttpFailure },
  ) {
    super(message, options)
    if (options?.http) this.http = options.http
  }
}

export function invalidArgument(message: string): HuddleError {
  return new HuddleError('invalid-argument', message)
}

/** Throws an invalid-argument error when `problem` is a message (the shape of the shared checks). */
export function check(problem: string | null): void {
  if (problem) throw invalidArgument(problem)
}

/** The value, or throws the message a shared `parse…` function returned instead. */
export function parsed<T>(result: T | string): T {
  if (typeof result === 'string') throw invalidArgument(result)
  return result
}
