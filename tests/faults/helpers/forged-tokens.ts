// Tokens as an attacker makes them by hand: unsigned, signed with another algorithm or key,
// expired, not yet valid, or carrying claims the server never issued.
import { SignJWT } from 'jose'
import { TEST_KEY } from '../../helpers/clients.js'

/** base64url JSON */
export const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
/** the time in a JWT's seconds */
export const nowSeconds = () => Math.floor(Date.now() / 1000)
/** The claims of a human's token for `workspace`, any role spelled as given (forged ones included). */
export const tokenClaims = (actor: string, role: string, workspace: string) => ({ sub: actor, name: actor, kind: 'human', ws: workspace, role })

/** A JWT signed with the test secret (or `key`), HS256 unless `alg` says otherwise. */
export async function signed(payload: Record<string, unknown>, options: { key?: Uint8Array; alg?: string; exp?: number; nbf?: number } = {}): Promise<string> {
  let jwt = new SignJWT(payload)
    .setProtectedHeader({ alg: options.alg ?? 'HS256', typ: 'JWT' })
    .setIssuedAt()
    .setExpirationTime(options.exp ?? nowSeconds() + 3600)
  if (options.nbf !== undefined) jwt = jwt.setNotBefore(options.nbf)
  return jwt.sign(options.key ?? TEST_KEY)
}
