// The HS256 signing secret: HUDDLE_SECRET, else a random one generated once into the data
// directory with mode 0600 so tokens stay valid across restarts.
import { randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

const MIN_SECRET_LENGTH = 32
export const SECRET_FILE = 'secret'

export interface Secret {
  key: Uint8Array
  /** true when this call created the secret file (the server then prints a starter token) */
  generated: boolean
  source: string
}

function fromEnv(): Secret | null {
  const value = process.env.HUDDLE_SECRET
  if (value === undefined || value === '') return null
  if (value.length < MIN_SECRET_LENGTH) {
    throw new Error(`HUDDLE_SECRET is ${value.length} characters long; use at least ${MIN_SECRET_LENGTH} random characters (e.g. \`openssl rand -base64 48\`)`)
  }
  return { key: new TextEncoder().encode(value), generated: false, source: 'HUDDLE_SECRET' }
}

function readFile(path: string): Secret | null {
  try {
    const text = readFileSync(path, 'utf8').trim()
    return { key: new TextEncoder().encode(text), generated: false, source: path }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw new Error(`cannot read the secret at ${path}: ${(error as Error).message}`)
  }
}

/** For `huddle serve`: the secret, generating one into `dataDir` on first start; with no
 * `dataDir` (a server in memory) one that lives only as long as the process. */
export function loadOrCreateSecret(dataDir: string | null): Secret {
  if (dataDir === null) return fromEnv() ?? { key: new TextEncoder().encode(randomBytes(48).toString('base64url')), generated: true, source: 'memory' }
  const existing = fromEnv() ?? readFile(join(dataDir, SECRET_FILE))
  if (existing) return existing
  mkdirSync(dataDir, { recursive: true })
  const path = join(dataDir, SECRET_FILE)
  const text = randomBytes(48).toString('base64url')
  // 'wx' refuses to overwrite a secret another process created meanwhile.
  writeFileSync(path, `${text}\n`, { mode: 0o600, flag: 'wx' })
  return { key: new TextEncoder().encode(text), generated: true, source: path }
}

/** For `huddle token`: the existing secret, or an error saying how to get one. */
export function loadSecret(dataDir: string): Secret {
  const existing = fromEnv() ?? readFile(join(dataDir, SECRET_FILE))
  if (existing) return existing
  throw new Error(
    `no secret found: set HUDDLE_SECRET, or start the server once with \`huddle serve --data ${dataDir}\` so it creates ${join(dataDir, SECRET_FILE)}, or pass --data <the server's data directory>`,
  )
}
