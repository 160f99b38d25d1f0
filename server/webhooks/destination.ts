// Where a webhook may be sent: http(s) URLs of at most 2,048 bytes, and — unless the server runs
// with --webhooks-allow-private — never to loopback, private, link-local or otherwise internal
// addresses, checked at creation and, on every attempt, on the address the connection is made to
// (a name can be re-pointed).
import { lookup as dnsLookup } from 'node:dns'
import { lookup } from 'node:dns/promises'
import { BlockList, isIP, type LookupFunction } from 'node:net'

export const MAX_URL_BYTES = 2048

const INTERNAL = new BlockList()
for (const [network, bits] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const)
  INTERNAL.addSubnet(network, bits, 'ipv4')
for (const [network, bits] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const)
  INTERNAL.addSubnet(network, bits, 'ipv6')

/** The parsed URL, or why it cannot be a webhook destination (without looking up its name). */
export function parseDestination(url: unknown): URL | string {
  if (typeof url !== 'string' || url.length === 0) return 'url must be a string: the http(s) address that receives the events'
  if (Buffer.byteLength(url) > MAX_URL_BYTES) return `url is ${Buffer.byteLength(url)} bytes: at most ${MAX_URL_BYTES} are accepted`
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return `url ${JSON.stringify(url.slice(0, 100))} is not a URL: write e.g. https://example.com/hooks/huddle`
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return `url must use http or https, not ${parsed.protocol.slice(0, -1)}`
  if (parsed.username || parsed.password) return 'url must not carry a user name or password: use the signing secret to authenticate deliveries'
  return parsed
}

/** Why the host's addresses are refused, or null; `allowPrivate` turns the check off. */
export async function refusedAddress(url: URL, allowPrivate: boolean): Promise<string | null> {
  if (allowPrivate) return null
  const host = hostOf(url)
  let addresses: string[]
  if (isIP(host)) addresses = [host]
  else {
    try {
      addresses = (await lookup(host, { all: true, verbatim: true })).map((entry) => entry.address)
    } catch (error) {
      return `cannot resolve ${host}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`
    }
  }
  const internal = addresses.find(isInternal)
  return internal === undefined ? null : refusal(host, internal)
}

/** The refusal of a URL whose host is an internal address literal (no lookup happens for those). */
export function refusedLiteral(url: URL): string | null {
  const host = hostOf(url)
  return isIP(host) && isInternal(host) ? refusal(host, host) : null
}

/**
 * A `lookup` for http(s).request that refuses internal addresses when the connection is made: the
 * address checked is the address connected to. A check before the request would resolve the name
 * once more than the connection does, and a name re-pointed in between (DNS rebinding) would
 * reach an internal address.
 */
export const publicOnlyLookup: LookupFunction = (hostname, options, callback) => {
  dnsLookup(hostname, { ...options, verbatim: true }, (error, address, family) => {
    if (error) return callback(error, address, family)
    const addresses = typeof address === 'string' ? [address] : address.map((entry) => entry.address)
    const internal = addresses.find(isInternal)
    if (internal === undefined) return callback(null, address, family)
    callback(Object.assign(new Error(refusal(hostname, internal)), { code: 'EHUDDLEINTERNAL' }), address, family)
  })
}

function hostOf(url: URL): string {
  return url.hostname.replace(/^\[|\]$/g, '')
}

function refusal(host: string, address: string): string {
  return `${host} resolves to ${address}, a private or loopback address: webhooks go to public addresses only (start the server with --webhooks-allow-private for local receivers)`
}

function isInternal(address: string): boolean {
  const family = isIP(address) === 6 ? 'ipv6' : 'ipv4'
  const mapped = family === 'ipv6' ? /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1] : undefined
  if (mapped) return INTERNAL.check(mapped, 'ipv4')
  return INTERNAL.check(address, family)
}
