// One delivery attempt over HTTP: any 2xx is success; a 3xx (redirects are not followed), 4xx,
// 5xx, a broken answer, a refused address or no answer within the timeout is a failed attempt —
// never an exception for the caller.
import { refusedAddress } from './destination.js'
import type { Request } from './payload.js'
import { parseRetryAfter } from './schedule.js'

export interface AttemptResult {
  ok: boolean
  /** the HTTP status, when there was one */
  code?: number
  error?: string
  latencyMs: number
  retryAfterMs?: number
  /** the receiver answered 410 Gone: stop sending */
  gone: boolean
  /** the start of the response body, for the delivery log */
  response?: string
}

const RESPONSE_PREVIEW_BYTES = 512

export async function attempt(
  url: string,
  request: Request,
  options: { timeoutMs: number; allowPrivate: boolean; signal?: AbortSignal },
): Promise<AttemptResult> {
  const started = performance.now()
  const elapsed = () => Math.round(performance.now() - started)
  const refused = await refusedAddress(new URL(url), options.allowPrivate)
  if (refused) return { ok: false, error: refused, latencyMs: elapsed(), gone: false }
  try {
    const response = await fetch(url, {
      method: 'POST',
      headers: { ...request.headers, 'user-agent': 'Huddle-Webhooks/1' },
      body: request.body,
      redirect: 'manual',
      signal: options.signal ? AbortSignal.any([options.signal, AbortSignal.timeout(options.timeoutMs)]) : AbortSignal.timeout(options.timeoutMs),
    })
    const preview = await readPreview(response)
    const ok = response.status >= 200 && response.status < 300
    const retryAfterMs = response.status === 429 || response.status === 503 ? parseRetryAfter(response.headers.get('retry-after'), Date.now()) : undefined
    return {
      ok,
      code: response.status,
      ...(ok
        ? {}
        : {
            error:
              response.status >= 300 && response.status < 400
                ? `redirect (${response.status}) not followed: point the endpoint at the final URL`
                : `receiver answered ${response.status}`,
          }),
      latencyMs: elapsed(),
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
      gone: response.status === 410,
      ...(preview ? { response: preview } : {}),
    }
  } catch (error) {
    const cause = (error as Error & { cause?: Error }).cause
    const why = (error as Error).name === 'TimeoutError' ? `no answer within ${options.timeoutMs} ms` : (cause?.message ?? (error as Error).message)
    return { ok: false, error: why, latencyMs: elapsed(), gone: false }
  }
}

async function readPreview(response: Response): Promise<string> {
  if (!response.body) return ''
  const reader = response.body.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  try {
    while (size < RESPONSE_PREVIEW_BYTES) {
      const { done, value } = await reader.read()
      if (done) break
      chunks.push(value)
      size += value.length
    }
  } catch {
    // a body cut short still leaves the status, which decides the attempt
  } finally {
    reader.cancel().catch(() => {})
  }
  return Buffer.concat(chunks).subarray(0, RESPONSE_PREVIEW_BYTES).toString('utf8')
}
