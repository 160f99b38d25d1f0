// Standard Webhooks signing (https://www.standardwebhooks.com): the secret is `whsec_` + base64 of
// the key bytes; the signature is `v1,` + base64 HMAC-SHA256 of `<id>.<timestamp>.<body>`.
import { createHmac, randomBytes } from 'node:crypto'

const PREFIX = 'whsec_'

export function generateSecret(): string {
  return `${PREFIX}${randomBytes(24).toString('base64')}`
}

/** Why a caller-chosen secret cannot be used, or null. */
export function checkSecret(secret: unknown): string | null {
  const problem = 'secret must be "whsec_" followed by base64 of 24 to 64 random bytes (omit it to get a generated one)'
  if (typeof secret !== 'string' || !secret.startsWith(PREFIX)) return problem
  const body = secret.slice(PREFIX.length)
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(body)) return problem
  const bytes = Buffer.from(body, 'base64').length
  return bytes >= 24 && bytes <= 64 ? null : problem
}

export function sign(secret: string, id: string, timestamp: number, body: string): string {
  const key = Buffer.from(secret.slice(PREFIX.length), 'base64')
  return `v1,${createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64')}`
}
