// Revoked tokens (docs/design.md §3: revoking a token takes effect on live connections within a
// second). A revocation names the token's identity (VerifiedToken.id: its jti with sub and exp),
// never its text, so no other spelling of the same token gets past it. A revocation is kept until
// the token expires; after that the token is refused for its expiry anyway, so the entry is dropped.
//
// Revocations stored before identities existed name the SHA-256 of the token's text. Tokens were
// always written canonically, so they are matched against the canonical text's digest
// (VerifiedToken.textDigest), whatever spelling is presented, until they expire.
import type { Storage as Store } from '../store/storage.js'
import type { VerifiedToken } from './tokens.js'

interface Revocation {
  /** the token's identity; `digest` in entries written before identities */
  id?: string
  digest?: string
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
    for (const key of await tokens.reload(now)) await store.del(key)
    return tokens
  }

  /**
   * Adds the stored revocations (in a cluster, other nodes write them too; a revocation is never
   * lifted). Returns the keys of those that expired, which no longer need keeping.
   */
  async reload(now = Date.now()): Promise<string[]> {
    const expired: string[] = []
    for (const [key, value] of await this.store.readRange({ gt: PREFIX, lt: `${PREFIX}~` })) {
      const revocation = JSON.parse(decoder.decode(value)) as Revocation
      const name = revocation.id ?? revocation.digest
      if (name !== undefined && revocation.expiresAt > now) {
        if (!this.revoked.has(name)) this.revoked.set(name, revocation)
      } else expired.push(key)
    }
    return expired
  }

  /** Revokes `token`; resolves once that is stored. False when it was revoked already. */
  async revoke(token: VerifiedToken, by: string, now = Date.now()): Promise<boolean> {
    if (this.find(token)) return false
    const revocation: Revocation = { id: token.id, expiresAt: token.expiresAt, revokedAt: now, by }
    // Taken before the write, so two concurrent revocations of one token store and audit it once.
    this.revoked.set(token.id, revocation)
    try {
      await this.store.put(`${PREFIX}${token.id}`, encoder.encode(JSON.stringify(revocation)))
    } catch (error) {
      this.revoked.delete(token.id)
      throw error
    }
    return true
  }

  /** Why `identity`'s token no longer counts, or null. */
  reason(identity: VerifiedToken): string | null {
    const revocation = this.find(identity)
    if (!revocation) return null
    return `token revoked by ${revocation.by} at ${new Date(revocation.revokedAt).toISOString()}: ask an admin for a new one`
  }

  private find(identity: VerifiedToken): Revocation | undefined {
    return this.revoked.get(identity.id) ?? this.revoked.get(identity.textDigest)
  }
}
