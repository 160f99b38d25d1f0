// Webhook signing secrets are stored sealed (AES-256-GCM under a key derived from the server's
// secret), so a copy of the database — a backup, a Redis dump — does not hand out the secrets that
// let anyone forge deliveries to the receivers. A secret stored in the clear by an earlier
// version is read as it is and sealed the next time its endpoint is saved.
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto'

const PREFIX = 'sealed:v1:'
const IV_BYTES = 12
const TAG_BYTES = 16

export class SecretSealer {
  private readonly key: Buffer

  constructor(serverSecret: Uint8Array) {
    this.key = Buffer.from(hkdfSync('sha256', serverSecret, 'huddle', 'webhook signing secrets', 32))
  }

  seal(secret: string): string {
    const iv = randomBytes(IV_BYTES)
    const cipher = createCipheriv('aes-256-gcm', this.key, iv)
    const sealed = Buffer.concat([iv, cipher.update(secret, 'utf8'), cipher.final(), cipher.getAuthTag()])
    return PREFIX + sealed.toString('base64url')
  }

  isSealed(stored: string): boolean {
    return stored.startsWith(PREFIX)
  }

  /** The secret, or null when it was sealed under another server secret (HUDDLE_SECRET changed). */
  open(stored: string): string | null {
    if (!this.isSealed(stored)) return stored
    const sealed = Buffer.from(stored.slice(PREFIX.length), 'base64url')
    if (sealed.length < IV_BYTES + TAG_BYTES) return null
    const decipher = createDecipheriv('aes-256-gcm', this.key, sealed.subarray(0, IV_BYTES))
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES))
    try {
      return Buffer.concat([decipher.update(sealed.subarray(IV_BYTES, sealed.length - TAG_BYTES)), decipher.final()]).toString('utf8')
    } catch {
      return null
    }
  }
}
