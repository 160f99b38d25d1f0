// One delivery attempt over HTTP: any 2xx is success; a 3xx (redirects are not followed), 4xx,
// 5xx, a broken answer, a refused address or no answer within the timeout is a failed attempt —
// never an exception for the caller. Internal addresses are refused on the address connected to
// (destination.ts `publicOnlyLookup`), not on a lookup of its own.
import { type IncomingMessage, request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { publicOnlyLookup, refusedLiteral } from './destination.js'
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
  const target = new URL(url)
  const refused = options.allowPrivate ? null : refusedLiteral(target)
  if (refused) return { ok: false, error: refused, latencyMs: elapsed(), gone: false }
  const timeout = AbortSignal.timeout(options.timeoutMs)
  try {
    const response = await post(target, request, {
      signal: options.signal ? AbortSignal.any([options.signal, timeout]) : timeout,
      allowPrivate: options.allowPrivate,
    })
    const preview = await readPreview(response)
    const status = response.statusCode ?? 0
    const ok = status >= 200 && status < 300
    const retryAfter = response.headers['retry-after']
    const retryAfterMs = status === 429 || status === 503 ? parseRetryAfter(retryAfter ?? null, Date.now()) : undefined
    return {
      ok,
      code: status,
      ...(ok
        ? {}
        : {
            error: status >= 300 && status < 400 ? `redirect (${status}) not followed: point the endpoint at the final URL` : `receiver answered ${status}`,
          }),
      latencyMs: elapsed(),
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
      gone: status === 410,
      ...(preview ? { response: preview } : {}),
    }
  } catch (error) {
    const why = timeout.aborted ? `no answer within ${options.timeoutMs} ms` : (error as Error).message
    return { ok: false, error: why, latencyMs: elapsed(), gone: false }
  }
}

/** POSTs the request; redirects are not followed (http.request never does). */
function post(url: URL, request: Request, options: { signal: AbortSignal; allowPrivate: boolean }): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest
    const outgoing = send(
      url,
      {
        method: 'POST',
        headers: { ...request.headers, 'user-agent': 'Huddle-Webhooks/1', 'content-length': Buffer.byteLength(request.body) },
        signal: options.signal,
        ...(options.allowPrivate ? {} : { lookup: publicOnlyLookup }),
      },
      resolve,
    )
    outgoing.on('error', reject)
    outgoing.end(request.body)
  })
}

async function readPreview(response: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  try {
    for await (const chunk of response) {
      chunks.push(chunk as Buffer)
      size += (chunk as Buffer).length
      if (size >= RESPONSE_PREVIEW_BYTES) break
    }
  } catch {
    // a body cut short still leaves the status, which decides the attempt
  } finally {
    response.destroy()
  }
  return Buffer.concat(chunks).subarray(0, RESPONSE_PREVIEW_BYTES).toString('utf8')
}
