// The y-websocket protocol as the benchmark clients speak it, in the two dialects the servers
// use: plain y-websocket (Huddle, the reference server) and Hocuspocus's, where every message is
// prefixed by the document name and the connection starts with an auth message.
import * as encoding from 'lib0/encoding'

export type Dialect = 'y-websocket' | 'hocuspocus'

export const MSG_SYNC = 0
export const MSG_AWARENESS = 1
export const MSG_AUTH = 2
export const MSG_SYNC_REPLY = 4 // hocuspocus: a sync message answering ours
export const MSG_SYNC_STATUS = 8 // hocuspocus: acknowledges an applied update
export const SYNC_STEP1 = 0
export const SYNC_STEP2 = 1
export const SYNC_UPDATE = 2

export class Wire {
  private readonly prefix: Uint8Array

  constructor(
    readonly dialect: Dialect,
    readonly docName: string,
  ) {
    if (dialect === 'hocuspocus') {
      const encoder = encoding.createEncoder()
      encoding.writeVarString(encoder, docName)
      this.prefix = encoding.toUint8Array(encoder)
    } else {
      this.prefix = new Uint8Array(0)
    }
  }

  frame(body: Uint8Array): Uint8Array {
    if (this.prefix.length === 0) return body
    const out = new Uint8Array(this.prefix.length + body.length)
    out.set(this.prefix, 0)
    out.set(body, this.prefix.length)
    return out
  }

  /** where the y-websocket message starts in a received frame */
  bodyOffset(data: Uint8Array): number {
    if (this.prefix.length === 0) return 0
    // varString: varUint length then bytes
    let length = 0
    let shift = 0
    let offset = 0
    for (;;) {
      const byte = data[offset++]!
      length += (byte & 0x7f) * 2 ** shift
      if (byte < 0x80) break
      shift += 7
    }
    return offset + length
  }

  /** the messages a client sends once the socket is open: (auth,) sync step 1 of an empty doc */
  opening(token = ''): Uint8Array[] {
    const messages: Uint8Array[] = []
    if (this.dialect === 'hocuspocus') messages.push(this.frame(auth(token)))
    messages.push(this.frame(EMPTY_STEP1))
    return messages
  }

  /** the answer to the server's sync step 1: an empty document has nothing to give */
  get emptyStep2(): Uint8Array {
    return this.frame(EMPTY_STEP2)
  }

  update(update: Uint8Array): Uint8Array {
    const encoder = encoding.createEncoder()
    encoding.writeVarUint(encoder, MSG_SYNC)
    encoding.writeVarUint(encoder, SYNC_UPDATE)
    encoding.writeVarUint8Array(encoder, update)
    return this.frame(encoding.toUint8Array(encoder))
  }

  /**
   * What keeps an otherwise silent client connected, or null where the WebSocket's own pings do.
   * Hocuspocus 4 closes a connection that has sent no message for its `timeout` (60 s); real
   * providers send awareness renewals every 15 s. An empty stateless message is its cheapest
   * message: the server reads it and broadcasts nothing.
   */
  get keepalive(): Uint8Array | null {
    return this.dialect === 'hocuspocus' ? this.frame(STATELESS_EMPTY) : null
  }

  awareness(clientID: number, clock: number, json: string): Uint8Array {
    const inner = encoding.createEncoder()
    encoding.writeVarUint(inner, 1)
    encoding.writeVarUint(inner, clientID)
    encoding.writeVarUint(inner, clock)
    encoding.writeVarString(inner, json)
    const encoder = encoding.createEncoder()
    encoding.writeVarUint(encoder, MSG_AWARENESS)
    encoding.writeVarUint8Array(encoder, encoding.toUint8Array(inner))
    return this.frame(encoding.toUint8Array(encoder))
  }
}

const EMPTY_STEP1 = Uint8Array.of(MSG_SYNC, SYNC_STEP1, 1, 0)
const EMPTY_STEP2 = Uint8Array.of(MSG_SYNC, SYNC_STEP2, 2, 0, 0)
/** hocuspocus: a stateless message (type 5) with an empty payload */
const STATELESS_EMPTY = Uint8Array.of(5, 0)

function auth(token: string): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, MSG_AUTH)
  encoding.writeVarUint(encoder, 0)
  encoding.writeVarString(encoder, token)
  return encoding.toUint8Array(encoder)
}

// ---- latency markers ----------------------------------------------------------------------
// A marker is an ASCII string a writer puts into the document or its presence state:
// `@@T<16 digits: send time, µs of the system-wide monotonic clock>w<6 digits: writer id>`.
// Strings travel verbatim in Yjs updates and awareness JSON, so a receiver finds them with a byte
// search, without decoding anything.

export const MARKER_LENGTH = 26
const MARK = Buffer.from('@@T')

export function marker(sentUs: number, writer: number): string {
  return `@@T${String(Math.floor(sentUs)).padStart(16, '0')}w${String(writer).padStart(6, '0')}`
}

/** Calls `found` for every marker in `data` from `from` on. */
export function scanMarkers(data: Buffer, from: number, found: (sentUs: number, writer: number) => void): void {
  let at = data.indexOf(MARK, from)
  while (at >= 0 && at + MARKER_LENGTH <= data.length) {
    let sent = 0
    for (let i = at + 3; i < at + 19; i++) sent = sent * 10 + (data[i]! - 48)
    let writer = 0
    for (let i = at + 20; i < at + 26; i++) writer = writer * 10 + (data[i]! - 48)
    found(sent, writer)
    at = data.indexOf(MARK, at + MARKER_LENGTH)
  }
}
