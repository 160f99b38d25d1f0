// Share-link passwords are stored as scrypt hashes (slow on purpose) with a random salt. scrypt runs
// on libuv's thread pool, which LevelDB shares: at most HASHING_AT_ONCE hashes run at a time so the
// store always has threads left, and at most HASHING_QUEUE wait; past that the caller is told to
// retry (PasswordsBusy) instead of queueing without bound.
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto'

const KEY_LENGTH = 32
/** libuv's pool has 4 threads by default; LevelDB keeps at least 2 */
const HASHING_AT_ONCE = 2
const HASHING_QUEUE = 64
export const MIN_PASSWORD_LENGTH = 8

export class PasswordsBusy extends Error {
  constructor() {
    super('too many password checks at once: retry in a second')
  }
}

let running = 0
const waiting: Array<() => void> = []

async function bounded<T>(work: () => Promise<T>): Promise<T> {
  if (running >= HASHING_AT_ONCE) {
    if (waiting.length >= HASHING_QUEUE) throw new PasswordsBusy()
    await new Promise<void>((resolve) => waiting.push(resolve))
  } else {
    running++
  }
  try {
    return await work()
  } finally {
    // The slot passes straight to the next waiter, so `running` never exceeds the bound.
    const next = waiting.shift()
    if (next) next()
    else running--
  }
}

function derive(password: string, salt: Buffer): Promise<Buffer> {
  return bounded(
    () =>
      new Promise((resolve, reject) => {
        scrypt(password, salt, KEY_LENGTH, { N: 16384, r: 8, p: 1 }, (error, key) => (error ? reject(error) : resolve(key)))
      }),
  )
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16)
  return `scrypt$${salt.toString('base64')}$${(await derive(password, salt)).toString('base64')}`
}

export async function checkPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, salt, hash] = stored.split('$')
  if (scheme !== 'scrypt' || !salt || !hash) return false
  const expected = Buffer.from(hash, 'base64')
  const actual = await derive(password, Buffer.from(salt, 'base64'))
  return actual.length === expected.length && timingSafeEqual(actual, expected)
}
