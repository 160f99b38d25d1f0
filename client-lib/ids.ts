// Random ids from the Web Crypto API, which Node 20 and browsers both provide globally.
const ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyz'

/** `length` characters of [0-9a-z]; 8 give 2.8e12 values, short enough to paste. */
export function randomId(length: number): string {
  const bytes = crypto.getRandomValues(new Uint8Array(length))
  let id = ''
  for (const byte of bytes) id += ALPHABET[byte % ALPHABET.length]
  return id
}

/** A session id: 22 characters, inside the 16-64 the server accepts. */
export function newSessionId(): string {
  return randomId(22)
}
