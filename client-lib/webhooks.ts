// Verifying a webhook from a Huddle server (the Standard Webhooks scheme), in Node and browsers:
// the signature is `v1,` + base64 HMAC-SHA256 of `<webhook-id>.<webhook-timestamp>.<body>`, keyed
// with the base64-decoded part of the `whsec_` secret.
import { HuddleError } from './errors.js'

/** The JSON body of a `standard` delivery. */
export interface WebhookEvent {
  /** dotted event type, e.g. `approval.requested`, `lock.granted`, `ping` */
  type: string
  workspace: string
  /** the audit entry's per-workspace sequence number: a gap means missed events */
  seq: number
  /** when the entry was committed, ms since the epoch */
  at: number
  actor: string | null
  data: unknown
  /** the audit entry's chain hash (GET /api/workspaces/<ws>/audit/verify checks the chain) */
  hash: string
  /** the webhook-id header: the same on every retry, so a receiver can drop duplicates */
  id: string
}

export type WebhookHeaders = Headers | Record<string, string | string[] | undefined>

export interface VerifyOptions {
  /** refuse timestamps further than this from now (default 5 minutes: replayed deliveries) */
  toleranceSeconds?: number
  /** for tests: the current time in ms */
  now?: number
}

const encoder = new TextEncoder()

/**
 * Checks a delivery's signature and timestamp and returns the event; throws a HuddleError with
 * code `bad-signature` saying what is wrong otherwise. Pass the body exactly as received (the
 * raw text or bytes, not re-serialised JSON).
 */
export async function verifyWebhook(secret: string, headers: WebhookHeaders, body: string | Uint8Array, options: VerifyOptions = {}): Promise<WebhookEvent> {
  const id = header(headers, 'webhook-id')
  const timestamp = header(headers, 'webhook-timestamp')
  const signatures = header(headers, 'webhook-signature')
  if (!id || !timestamp || !signatures) throw fail('missing webhook-id, webhook-timestamp or webhook-signature header')
  const seconds = Number(timestamp)
  const now = Math.floor((options.now ?? Date.now()) / 1000)
  if (!Number.isInteger(seconds)) throw fail(`webhook-timestamp ${JSON.stringify(timestamp)} is not a number of seconds`)
  if (Math.abs(now - seconds) > (options.toleranceSeconds ?? 300))
    throw fail(`webhook-timestamp is ${now - seconds} s away from now: a replay, or a clock out of sync`)
  const text = typeof body === 'string' ? body : new TextDecoder().decode(body)
  const expected = await hmac(keyOf(secret), `${id}.${timestamp}.${text}`)
  const matches = signatures.split(' ').some((part) => part.startsWith('v1,') && constantTimeEqual(part.slice(3), expected))
  if (!matches) throw fail('no signature matches: wrong secret, or the body was changed (verify the raw body, not re-serialised JSON)')
  let event: Omit<WebhookEvent, 'id'>
  try {
    event = JSON.parse(text) as Omit<WebhookEvent, 'id'>
  } catch {
    throw fail('the body is not JSON')
  }
  return { ...event, id }
}

function header(headers: WebhookHeaders, name: string): string | undefined {
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? undefined
  const record = headers as Record<string, string | string[] | undefined>
  const value = record[name] ?? Object.entries(record).find(([key]) => key.toLowerCase() === name)?.[1]
  return Array.isArray(value) ? value.join(' ') : value
}

function keyOf(secret: string): Uint8Array<ArrayBuffer> {
  if (!secret.startsWith('whsec_'))
    throw new HuddleError('invalid-argument', 'the secret starts with "whsec_": pass the one the server returned when the webhook was created')
  const binary = atob(secret.slice('whsec_'.length))
  return Uint8Array.from(binary, (char) => char.charCodeAt(0))
}

async function hmac(key: Uint8Array<ArrayBuffer>, message: string): Promise<string> {
  const cryptoKey = await crypto.subtle.importKey('raw', key, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign'])
  const signature = new Uint8Array(await crypto.subtle.sign('HMAC', cryptoKey, encoder.encode(message)))
  return btoa(String.fromCharCode(...signature))
}

function constantTimeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false
  let difference = 0
  for (let i = 0; i < a.length; i++) difference |= a.charCodeAt(i) ^ b.charCodeAt(i)
  return difference === 0
}

function fail(message: string): HuddleError {
  return new HuddleError('bad-signature', `webhook not verified: ${message}`)
}
