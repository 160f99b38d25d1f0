// One live document: a stock y-websocket provider plus a readable connection state. Reconnects by
// itself (y-websocket's backoff) except after refusals that reconnecting cannot fix (the client
// library's policy, shared by every Huddle client).
import { WebsocketProvider } from 'y-websocket'
import * as Y from 'yjs'
import { shouldReconnect } from '../../client-lib/connection.js'
import { CloseCode } from '../../shared/close-codes.js'

export type ConnectionState =
  | { kind: 'connecting' }
  | { kind: 'syncing' }
  | { kind: 'live' }
  | { kind: 'reconnecting'; why: string }
  | { kind: 'offline' }
  /** refused for good: only a new token (4401) or a deliberate retry helps */
  | { kind: 'closed'; code: number; message: string; signInAgain: boolean }

/** What a close means, for people. */
export function describeClose(code: number, reason: string): string {
  const why = reason ? `: ${reason.replace(/\.+$/, '')}` : ''
  switch (code) {
    case CloseCode.unauthorized:
      return `Your sign-in is no longer accepted${why}.`
    case CloseCode.forbidden:
      return `Not allowed${why}.`
    case CloseCode.malformed:
      return `The server refused the connection as malformed${why}.`
    case CloseCode.tooLarge:
      return `A change was too large for the server${why}.`
    case CloseCode.rateLimited:
      return `Too many messages; slowing down${why}.`
    case CloseCode.shuttingDown:
      return 'The server is restarting.'
    case CloseCode.internalError:
      return `The server had an internal error${why}.`
    case CloseCode.tryAgainLater:
      return 'This page fell behind the updates (a busy or slow connection); it catches up on reconnect.'
    default:
      return code === 1006 || code === 1005 ? 'The connection was lost.' : `The connection closed (${code})${why}.`
  }
}

export interface ConnectionOptions {
  room: string
  token: string
  session: string
  doc?: Y.Doc
}

export class DocumentConnection {
  readonly doc: Y.Doc
  readonly provider: WebsocketProvider
  state: ConnectionState = { kind: 'connecting' }
  /** the most recent close the server reported, for "reconnecting because …" */
  lastClose: { code: number; reason: string } | null = null
  /** time (local clock) the socket last opened */
  openedAt = 0
  private everLive = false
  private readonly listeners = new Set<(state: ConnectionState) => void>()
  private readonly onOnline = () => this.refresh()
  private readonly onOffline = () => this.set({ kind: 'offline' })

  constructor(options: ConnectionOptions) {
    this.doc = options.doc ?? new Y.Doc()
    const base = `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}`
    this.provider = new WebsocketProvider(base, options.room, this.doc, {
      params: { token: options.token, session: options.session },
      // Cross-tab BroadcastChannel would relay other tabs' presence to the server as our own,
      // which the server refuses (4403); every tab talks to the server itself.
      disableBc: true,
      maxBackoffTime: 5000,
      shouldReconnect,
    })
    this.provider.on('status', ({ status }) => {
      if (status === 'connected') {
        this.openedAt = Date.now()
        this.set({ kind: 'syncing' })
      } else if (status === 'connecting' && this.state.kind !== 'closed') {
        this.refresh()
      } else if (status === 'disconnected' && this.state.kind !== 'closed') {
        this.refresh()
      }
    })
    this.provider.on('sync', (synced) => {
      if (synced) {
        this.everLive = true
        this.set({ kind: 'live' })
      }
    })
    this.provider.on('connection-close', (event) => {
      if (event) this.lastClose = { code: event.code, reason: event.reason }
    })
    this.provider.on('closed', ({ code, reason }) => {
      this.set({ kind: 'closed', code, message: describeClose(code, reason), signInAgain: code === CloseCode.unauthorized })
    })
    addEventListener('online', this.onOnline)
    addEventListener('offline', this.onOffline)
  }

  private refresh(): void {
    if (this.state.kind === 'closed') return
    if (!navigator.onLine) return this.set({ kind: 'offline' })
    if (this.provider.wsconnected) return this.set(this.provider.synced ? { kind: 'live' } : { kind: 'syncing' })
    if (!this.everLive && !this.lastClose) return this.set({ kind: 'connecting' })
    this.set({ kind: 'reconnecting', why: this.lastClose ? describeClose(this.lastClose.code, this.lastClose.reason) : 'The connection was lost.' })
  }

  private set(state: ConnectionState): void {
    if (JSON.stringify(state) === JSON.stringify(this.state)) return
    this.state = state
    for (const listener of this.listeners) listener(state)
  }

  onState(listener: (state: ConnectionState) => void): () => void {
    this.listeners.add(listener)
    listener(this.state)
    return () => this.listeners.delete(listener)
  }

  /** Tries again after a terminal refusal (e.g. the user fixed something). */
  retry(): void {
    this.lastClose = null
    this.state = { kind: 'connecting' }
    this.refresh()
    this.provider.connect()
  }

  get synced(): boolean {
    return this.provider.synced
  }

  destroy(): void {
    removeEventListener('online', this.onOnline)
    removeEventListener('offline', this.onOffline)
    this.listeners.clear()
    this.provider.awareness.setLocalState(null)
    this.provider.destroy()
    this.doc.destroy()
  }
}

/** A short label and a CSS modifier for a state. */
export function stateLabel(state: ConnectionState): { text: string; tone: 'ok' | 'busy' | 'bad' } {
  switch (state.kind) {
    case 'live':
      return { text: 'Live', tone: 'ok' }
    case 'connecting':
      return { text: 'Connecting…', tone: 'busy' }
    case 'syncing':
      return { text: 'Syncing…', tone: 'busy' }
    case 'reconnecting':
      return { text: 'Reconnecting…', tone: 'busy' }
    case 'offline':
      return { text: 'Offline', tone: 'bad' }
    case 'closed':
      return { text: state.signInAgain ? 'Signed out' : 'Disconnected', tone: 'bad' }
  }
}
