// One server address for both protocols: users paste whichever they have (http://host:1234 or
// ws://host:1234); the WebSocket side and the REST side are derived from it.
import { invalidArgument } from './errors.js'

export interface ServerUrls {
  /** ws: or wss:, no trailing slash: the provider appends /<room> */
  ws: string
  /** http: or https:, no trailing slash: REST calls append /api/... */
  http: string
}

const SCHEMES: Record<string, [string, string]> = {
  'http:': ['ws:', 'http:'],
  'https:': ['wss:', 'https:'],
  'ws:': ['ws:', 'http:'],
  'wss:': ['wss:', 'https:'],
}

export function serverUrls(text: string): ServerUrls {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw invalidArgument(`bad server URL ${JSON.stringify(text)}: write it like http://127.0.0.1:1234 or ws://127.0.0.1:1234`)
  }
  const schemes = SCHEMES[url.protocol]
  if (!schemes) throw invalidArgument(`bad server URL ${JSON.stringify(text)}: use http://, https://, ws:// or wss://`)
  if (url.search || url.hash) throw invalidArgument(`bad server URL ${JSON.stringify(text)}: leave out ?query and #fragment (the token goes in --token)`)
  const rest = `//${url.host}${url.pathname.replace(/\/+$/, '')}`
  return { ws: `${schemes[0]}${rest}`, http: `${schemes[1]}${rest}` }
}
