// Clients for tests: tokens, stock y-websocket providers, raw sockets that record how they were
// closed, y-websocket frame builders, and a polling wait.
import { randomBytes } from 'node:crypto'
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import { WebSocket } from 'ws'
import { WebsocketProvider } from 'y-websocket'
import * as Y from 'yjs'
import { signToken } from '../../server/auth/tokens.js'
import type { Kind, Role } from '../../shared/roles.js'
import { TEST_SECRET, type TestServer } from './server.js'
import { WaitAborted, waitFor, withTimeout } from './wait.js'

export const TEST_KEY = new TextEncoder().encode(TEST_SECRET)

// Every y-websocket provider adds a process 'exit' listener until it is destroyed.
process.setMaxListeners(200)

export { delay, rejectionOf, WaitAborted, waitFor, withTimeout } from './wait.js'

// ---------------------------------------------------------------------------------------------
// identities

export interface TokenOptions {
  kind?: Kind
  name?: string
  ttlMs?: number
}

/** A token signed with the test servers' HUDDLE_SECRET. */
export function mintToken(actor: string, role: Role, workspace = '*', options: TokenOptions = {}): Promise<string> {
  return signToken(TEST_KEY, {
    actor,
    workspace,
    role,
    kind: options.kind ?? 'human',
    ttlMs: options.ttlMs ?? 3_600_000,
    ...(options.name ? { name: options.name } : {}),
  })
}

/** A fresh valid session id (22 characters of base64url). */
export function newSession(): string {
  return randomBytes(16).toString('base64url')
}

// ---------------------------------------------------------------------------------------------
// y-websocket providers

export interface CloseInfo {
  code: number
  reason: string
}

export interface Peer {
  doc: Y.Doc
  provider: WebsocketProvider
  /** every close of this peer's socket that the server initiated or reported, in order */
  closes: CloseInfo[]
  /** the close that made the provider give up (4400-4499), if any */
  terminal: CloseInfo | null
  destroy(): void
}

export interface PeerOptions {
  token: string
  session?: string
  doc?: Y.Doc
  /** wait for the first sync (default true) */
  waitSynced?: boolean
  /** ms (default 5000) */
  timeoutMs?: number
  /** default: y-websocket's (reconnect unless 4400-4499) */
  shouldReconnect?: (event: CloseEvent) => boolean
}

const livePeers = new Set<Peer>()
const liveSockets = new Set<RawClient>()

/** A stock y-websocket 3.1 provider talking to `server`, as a browser would (minus BroadcastChannel). */
export async function connectPeer(server: TestServer, room: string, options: PeerOptions): Promise<Peer> {
  const doc = options.doc ?? new Y.Doc()
  const provider = new WebsocketProvider(server.wsUrl, room, doc, {
    WebSocketPolyfill: WebSocket as unknown as typeof globalThis.WebSocket,
    params: { token: options.token, session: options.session ?? newSession() },
    disableBc: true,
    maxBackoffTime: 200,
    ...(options.shouldReconnect ? { shouldReconnect: options.shouldReconnect } : {}),
  })
  const peer: Peer = {
    doc,
    provider,
    closes: [],
    terminal: null,
    destroy() {
      if (!livePeers.delete(peer)) return
      provider.destroy()
      provider.awareness.destroy()
      doc.destroy()
    },
  }
  provider.on('connection-close', (event) => {
    if (event) peer.closes.push({ code: event.code, reason: event.reason })
  })
  provider.on('closed', (event) => {
    peer.terminal = { code: event.code, reason: event.reason }
  })
  livePeers.add(peer)
  if (options.waitSynced ?? true) {
    try {
      await waitSynced(peer, options.timeoutMs ?? 5000)
    } catch (error) {
      peer.destroy()
      throw error
    }
  }
  return peer
}

export async function waitSynced(peer: Peer, timeoutMs = 5000): Promise<void> {
  await waitFor(
    () => peer.provider.synced || peer.terminal,
    timeoutMs,
    () => `provider for ${peer.provider.roomname} never synced (closes: ${JSON.stringify(peer.closes)})`,
  )
  if (peer.terminal) throw new Error(`provider for ${peer.provider.roomname} was refused: ${peer.terminal.code} ${peer.terminal.reason}`)
}

/** Closes the provider's socket abruptly (no awareness goodbye, no reconnect), like a crashed tab. */
export function dropPeerSocket(peer: Peer): void {
  peer.provider.shouldConnect = false
  const ws = peer.provider.ws as unknown as WebSocket | null
  ws?.terminate()
}

// ---------------------------------------------------------------------------------------------
// raw sockets

export class RawClient {
  readonly ws: WebSocket
  /** binary messages received, in order */
  readonly messages: Uint8Array[] = []
  readonly errors: Error[] = []
  closeInfo: CloseInfo | null = null
  readonly opened: Promise<boolean>
  readonly closed: Promise<CloseInfo>

  constructor(url: string) {
    this.ws = new WebSocket(url, { perMessageDeflate: false })
    this.ws.binaryType = 'nodebuffer'
    this.ws.on('message', (data: Buffer) => this.messages.push(new Uint8Array(data)))
    this.ws.on('error', (error) => this.errors.push(error))
    this.opened = new Promise((resolve) => {
      this.ws.once('open', () => resolve(true))
      this.ws.once('close', () => resolve(false))
    })
    this.closed = new Promise((resolve) => {
      this.ws.once('close', (code: number, reason: Buffer) => {
        this.closeInfo = { code, reason: reason.toString('utf8') }
        liveSockets.delete(this)
        resolve(this.closeInfo)
      })
    })
    liveSockets.add(this)
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN
  }

  send(frame: Uint8Array | string): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(frame)
  }

  /** Waits for the server to close the socket; fails if it stays open. */
  async waitClose(timeoutMs = 5000, what = 'the server to close the socket'): Promise<CloseInfo> {
    return withTimeout(this.closed, timeoutMs, () => `${what} (still open; messages received: ${this.messages.length})`)
  }

  /** Waits for a received message matching `predicate` (checking those already received too). */
  async waitMessage(predicate: (message: Uint8Array) => boolean, timeoutMs = 5000, what = 'a matching message'): Promise<Uint8Array> {
    return waitFor(
      () => {
        const found = this.messages.find(predicate)
        if (!found && this.closeInfo) throw new WaitAborted(`${what}: the socket was closed (${this.closeInfo.code} ${this.closeInfo.reason})`)
        return found
      },
      timeoutMs,
      what,
    )
  }

  /**
   * Proves the connection is still accepted: sends sync step 1 and waits for the step 2 reply,
   * which the server sends only after everything received before it was processed.
   */
  async roundTrip(timeoutMs = 5000): Promise<void> {
    const before = this.messages.length
    this.send(syncStep1Frame(new Uint8Array([0])))
    await waitFor(
      () => {
        if (this.closeInfo) throw new WaitAborted(`closed with ${this.closeInfo.code} ${this.closeInfo.reason}`)
        return this.messages.slice(before).some((message) => decodeFrame(message).kind === 'sync-step2')
      },
      timeoutMs,
      'a sync step 2 reply to sync step 1',
    ).catch((error: Error) => {
      throw new Error(`round trip failed: ${error.message}${this.closeInfo ? ` (closed ${this.closeInfo.code} ${this.closeInfo.reason})` : ''}`)
    })
  }

  close(): void {
    this.ws.close()
  }

  terminate(): void {
    this.ws.terminate()
  }
}

export interface RawParams {
  token?: string | null
  session?: string | null
  /** extra query text, appended verbatim */
  query?: string
}

/** A raw `ws` socket to `<room>`; waits until it is open (or already closed by a refusal). */
export async function rawConnect(server: TestServer, room: string, params: RawParams = {}): Promise<RawClient> {
  const query = new URLSearchParams()
  if (params.token) query.set('token', params.token)
  if (params.session) query.set('session', params.session)
  let text = query.toString()
  if (params.query) text = text ? `${text}&${params.query}` : params.query
  const client = new RawClient(`${server.wsUrl}/${room}${text ? `?${text}` : ''}`)
  await withTimeout(client.opened, 5000, `opening a socket to ${room}`)
  return client
}

/** Connects and waits for the server's close; the usual shape of a refusal test. */
export async function expectRefusal(server: TestServer, room: string, params: RawParams, timeoutMs = 5000): Promise<CloseInfo> {
  const client = await rawConnect(server, room, params)
  return client.waitClose(timeoutMs, `a refusal of ${room}`)
}

/** Destroys every provider and socket the helpers created and that is still open. */
export function cleanupClients(): void {
  for (const peer of [...livePeers]) peer.destroy()
  for (const client of [...liveSockets]) client.terminate()
  liveSockets.clear()
}

// ---------------------------------------------------------------------------------------------
// y-websocket frames

export const MSG_SYNC = 0
export const MSG_AWARENESS = 1
export const MSG_QUERY_AWARENESS = 3

function syncFrame(type: number, payload: Uint8Array): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, MSG_SYNC)
  encoding.writeVarUint(encoder, type)
  encoding.writeVarUint8Array(encoder, payload)
  return encoding.toUint8Array(encoder)
}

export const syncStep1Frame = (stateVector: Uint8Array) => syncFrame(0, stateVector)
export const syncStep2Frame = (update: Uint8Array) => syncFrame(1, update)
export const updateFrame = (update: Uint8Array) => syncFrame(2, update)

export function awarenessFrame(awarenessUpdate: Uint8Array): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, MSG_AWARENESS)
  encoding.writeVarUint8Array(encoder, awarenessUpdate)
  return encoding.toUint8Array(encoder)
}

export function queryAwarenessFrame(): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, MSG_QUERY_AWARENESS)
  return encoding.toUint8Array(encoder)
}

export interface AwarenessEntry {
  clientID: number
  clock: number
  /** any JSON value (the protocol wants an object or null; tests send others on purpose) */
  state: unknown
}

/** An awareness update body: [count, (clientID, clock, JSON)*], written by hand so it can lie. */
export function awarenessUpdate(entries: AwarenessEntry[]): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, entries.length)
  for (const entry of entries) {
    encoding.writeVarUint(encoder, entry.clientID)
    encoding.writeVarUint(encoder, entry.clock)
    encoding.writeVarString(encoder, JSON.stringify(entry.state))
  }
  return encoding.toUint8Array(encoder)
}

export type DecodedFrame =
  | { kind: 'sync-step1' | 'sync-step2' | 'update'; payload: Uint8Array }
  | { kind: 'awareness'; entries: Array<{ clientID: number; clock: number; state: unknown }> }
  | { kind: 'query-awareness' }
  | { kind: 'other'; type: number }

/** Decodes a frame the server sent. */
export function decodeFrame(frame: Uint8Array): DecodedFrame {
  const decoder = decoding.createDecoder(frame)
  const type = decoding.readVarUint(decoder)
  if (type === MSG_SYNC) {
    const sub = decoding.readVarUint(decoder)
    const payload = decoding.readVarUint8Array(decoder)
    const kind = sub === 0 ? 'sync-step1' : sub === 1 ? 'sync-step2' : 'update'
    return { kind, payload }
  }
  if (type === MSG_AWARENESS) {
    const body = decoding.createDecoder(decoding.readVarUint8Array(decoder))
    const count = decoding.readVarUint(body)
    const entries = []
    for (let i = 0; i < count; i++) {
      const clientID = decoding.readVarUint(body)
      const clock = decoding.readVarUint(body)
      entries.push({ clientID, clock, state: JSON.parse(decoding.readVarString(body)) as unknown })
    }
    return { kind: 'awareness', entries }
  }
  if (type === MSG_QUERY_AWARENESS) return { kind: 'query-awareness' }
  return { kind: 'other', type }
}

/** A Yjs update that sets `text` into Y.Text `name` of a new document (a fresh client id). */
export function textUpdate(text: string, name = 'text'): Uint8Array {
  const doc = new Y.Doc()
  doc.getText(name).insert(0, text)
  const update = Y.encodeStateAsUpdate(doc)
  doc.destroy()
  return update
}

/** Applies every update frame in `messages` to a new document and returns it. */
export function docFromMessages(messages: Uint8Array[]): Y.Doc {
  const doc = new Y.Doc()
  for (const message of messages) {
    const frame = decodeFrame(message)
    if (frame.kind === 'update' || frame.kind === 'sync-step2') Y.applyUpdate(doc, frame.payload)
  }
  return doc
}

// ---------------------------------------------------------------------------------------------
// a seeded PRNG, so fuzz failures reproduce

/** mulberry32: a small, fast, seedable 32-bit generator; returns floats in [0, 1). */
export function prng(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex')
}
