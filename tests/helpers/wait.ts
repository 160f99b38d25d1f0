// Waiting for a condition with a generous bound, never for a fixed time: the machine running the
// tests may be loaded, and a test that sleeps to decide pass or fail is flaky either way.

/** Thrown by a `waitFor` predicate to stop waiting at once (e.g. the socket closed). */
export class WaitAborted extends Error {}

/**
 * Polls `predicate` every 10 ms until it returns a truthy value (which is returned) or throws
 * after `timeoutMs` with `message`. A predicate that throws is treated as "not yet", unless it
 * throws WaitAborted, which ends the wait with that error.
 */
export async function waitFor<T>(predicate: () => T | Promise<T>, timeoutMs: number, message: string | (() => string)): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs
  let lastError: unknown = null
  for (;;) {
    try {
      const value = await predicate()
      if (value) return value as NonNullable<T>
    } catch (error) {
      if (error instanceof WaitAborted) throw error
      lastError = error
    }
    if (Date.now() >= deadline) {
      const text = typeof message === 'function' ? message() : message
      const cause = lastError ? ` (last error: ${(lastError as Error).message})` : ''
      throw new Error(`timed out after ${timeoutMs} ms: ${text}${cause}`)
    }
    await delay(10)
  }
}

/** The error `promise` rejects with, checked to be a `type`; fails when it resolves. */
export async function rejectionOf<E extends Error>(type: new (...args: never[]) => E, promise: Promise<unknown>): Promise<E> {
  try {
    await promise
  } catch (error) {
    if (error instanceof type) return error
    throw new Error(`expected a ${type.name} rejection, got ${String(error)}`)
  }
  throw new Error(`expected a ${type.name} rejection, but it resolved`)
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** Rejects with `message` if `promise` does not settle within `timeoutMs`. */
export async function withTimeout<T>(promise: Promise<T>, timeoutMs: number, message: string | (() => string)): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms: ${typeof message === 'function' ? message() : message}`)), timeoutMs)
      }),
    ])
  } finally {
    clearTimeout(timer)
  }
}
