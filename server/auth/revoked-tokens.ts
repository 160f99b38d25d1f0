// Revoked tokens (docs/design.md §3: revoking a token takes effect on live connections within a
// second). A token is named by the SHA-256 of its text, so every token this server ever signed can
// be revoked, also one minted before revocation existed. A revocation is kept until the token
// expires; after that the token is refused for its expiry anyway, so the entry is dropped.
import type { Store } from '../store/index.js'
import type { VerifiedToken } from './tokens.js'

interface Revocation {
  digest: string
  expiresAt: number
  revokedAt: number
  by: string
}

const PREFIX = 'revoked!'
const encoder = new TextEncoder()
const decoder = new TextDecoder()

export class RevokedTokens {
  private readonly revoked = new Map<string, Revocation>()

  private constructor(private readonly store: Store) {}

  static async load(store: Store, now = Date.now()): Promise<RevokedTokens> {
    const tokens = new RevokedTokens(store)
    for (const [key, value] of await store.readRange({ gt: PREFIX, lt: `${PREFIX}~` })) {
      const revocation = JSON.parse(decoder.decode(value)) as Revocation
      if (revocation.expiresAt > now) tokens.revoked.set(revocation.digest, revocation)
      else await store.del(key)
    }
    return tokens
  }

  /** Revokes `token`; resolves once that is stored. False when it was revoked already. */
  async revoke(token: VerifiedToken, by: string, now = Date.now()): Promise<boolean> {
    if (this.revoked.has(token.digest)) return false
    const revocation: Revocation = { digest: token.digest, expiresAt: token.expiresAt, revokedAt: now, by }
    // Taken before the write, so two concurrent revocations of one token store and audit it once.
    this.revoked.set(token.digest, revocation)
    try {
      await this.store.put(`${PREFIX}${token.digest}`, encoder.encode(JSON.stringify(revocation)))
    } catch (error) {
      this.revoked.delete(token.digest)
      throw error
    }
    return true
  }

  /** Why `identity`'s token no longer counts, or null. */
  reason(identity: VerifiedToken): string | null {
    const revocation = this.revoked.get(identity.digest)
    if (!revocation) return null
    return `token revoked by ${revocation.by} at ${new Date(revocation.revokedAt).toISOString()}: ask an admin for a new one`
  }
}
