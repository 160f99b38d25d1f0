// The coordination document of one workspace over a stock y-websocket provider: connection state,
// first sync, reconnects with backoff (the provider's own), and a heartbeat that tells how recently
// the server was heard from, which is what decides whether a lock can still be trusted.
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import { WebsocketProvider } from 'y-websocket'
import * as syncProtocol from 'y-protocols/sync'
import * as Y from 'yjs'
import { CloseCode } from '../shared/close-codes.js'
import { Emitter } from './emitter.js'
import { type ErrorCode, HuddleError } from './errors.js'

export type ConnectionState = 'connecting' | 'connected' | 'disconnected' | 'closed'

export interface StateChange {
  state: ConnectionState
  /** for `closed` and `disconnected`: the close code and reason, or the socket error */
  code?: number
  reason?: string
}

export interface ConnectionOptions {
  /** ws: or wss: base URL */
  wsUrl: string
  workspace: string
  token: string
  session: string
  WebSocket: typeof WebSocket
  maxBackoffMs: number
  /** a document to sync instead of a new one; it outlives the connection (a reconnect after a refusal reuses it) */
  doc?: Y.Doc
}

const MSG_SYNC = 0

/**
 * The reconnect policy of every Huddle client: a 44xx close would be refused again, except a
 * rate-limit close, which is worth retrying after a backoff.
 */
export function shouldReconnect(event: Pick<CloseEvent, 'code'>): boolean {
  return event.code === CloseCode.rateLimited || !(event.code >= 4400 && event.code < 4500)
}

export class WorkspaceConnection extends Emitter<{ state: (change: StateChange) => void; change: (transaction: Y.Transaction) => void }> {
  readonly doc: Y.Doc
  readonly provider: WebsocketProvider
  state: ConnectionState = 'connecting'
  /** the last close or socket error, to explain a failure to connect */
  lastProblem: StateChange | null = null
  private everSynced = false
  private heartbeatUsers = 0
  private heartbeatTimer: ReturnType<typeof setInterval> | null = null
  /** called at the next sync step 2 received (the server's answer to a sync step 1) */
  private readonly syncReplyWaiters = new Set<() => void>()
  /** removes this connection's listeners from a document it does not own */
  private readonly detachDoc: Array<() => void> = []
  /** the provider is destroyed (the state may be `closed` before, by the server) */
  private destroyed = false

  constructor(readonly options: ConnectionOptions) {
    super()
    this.doc = options.doc ?? new Y.Doc()
    this.provider = new WebsocketProvider(options.wsUrl, options.workspace, this.doc, {
      params: { token: options.token, session: options.session },
      WebSocketPolyfill: options.WebSocket,
      maxBackoffTime: options.maxBackoffMs,
      // Tabs sharing a BroadcastChannel would relay each other's keys to the server under the
      // wrong session, which the server refuses as forgeries.
      disableBc: true,
      shouldReconnect,
    })
    this.provider.on('sync', (synced) => synced && this.setState({ state: 'connected' }))
    this.provider.on('status', ({ status }) => {
      if (status === 'disconnected') this.setState({ state: 'disconnected', ...this.lastProblem })
      else if (status === 'connecting' && !this.everSynced) this.setState({ state: 'connecting' })
    })
    let socketError = ''
    this.provider.on('connection-error', (event) => {
      const error = event as Event & { message?: string; error?: Error }
      socketError = error.message || error.error?.message || 'socket error'
      this.lastProblem = { state: 'disconnected', reason: socketError }
    })
    this.provider.on('connection-close', (event) => {
      // A socket that never opened closes with 1006 and no reason; the error before it says why.
      if (event) this.lastProblem = { state: 'disconnected', code: event.code, reason: event.reason || socketError || `close code ${event.code}` }
      socketError = ''
    })
    this.provider.on('closed', ({ code, reason }) => this.setState({ state: 'closed', code, reason }))
    const onTransaction = (transaction: Y.Transaction) => this.emit('change', transaction)
    this.doc.on('afterTransaction', onTransaction)
    this.detachDoc.push(() => this.doc.off('afterTransaction', onTransaction))
    this.encodeOnlyLocalUpdates()
    this.countSyncReplies()
  }

  /**
   * The provider sends local changes from the document's 'update' event, and while anything
   * listens to that event Yjs encodes every transaction into an update, also each one the
   * provider applied from the server, which it then ignores. With a busy coordination document
   * that re-encoding was a quarter of an agent's CPU (100 agents on one lock: every handoff
   * rewrites the whole queue). Yjs emits 'afterTransactionCleanup' just before it encodes, so the
   * provider's listener is detached for the provider's own transactions and attached for all
   * others, including those written from observers of a remote one.
   */
  private encodeOnlyLocalUpdates(): void {
    const send = this.provider._updateHandler
    let attached = true
    const toggle = (transaction: Y.Transaction) => {
      const wanted = transaction.origin !== this.provider && this.state !== 'closed'
      if (wanted === attached) return
      attached = wanted
      if (wanted) this.doc.on('update', send)
      else this.doc.off('update', send)
    }
    this.doc.on('afterTransactionCleanup', toggle)
    this.detachDoc.push(() => this.doc.off('afterTransactionCleanup', toggle))
  }

  private countSyncReplies(): void {
    const handlers = this.provider.messageHandlers
    const handleSync = handlers[MSG_SYNC]!
    handlers[MSG_SYNC] = (encoder, decoder, provider, emitSynced, messageType) => {
      const isStep2 = decoding.peekVarUint(decoder) === syncProtocol.messageYjsSyncStep2
      handleSync(encoder, decoder, provider, emitSynced, messageType)
      if (isStep2) for (const waiter of [...this.syncReplyWaiters]) waiter()
    }
  }

  /**
   * Resolves once the server answered a sync step 1 sent now: everything the server had when it
   * got the request is then in the local document. False when not connected or no answer in time.
   */
  roundTrip(timeoutMs = 5000): Promise<boolean> {
    if (!this.probe()) return Promise.resolve(false)
    return new Promise((resolve) => {
      const done = (answered: boolean) => {
        clearTimeout(timer)
        this.syncReplyWaiters.delete(onReply)
        off()
        resolve(answered)
      }
      const onReply = () => done(true)
      const timer = setTimeout(() => done(false), timeoutMs)
      const off = this.on('state', (change) => change.state !== 'connected' && done(false))
      this.syncReplyWaiters.add(onReply)
    })
  }

  private setState(change: StateChange): void {
    if (this.state === 'closed' || (this.state === change.state && change.state !== 'disconnected')) return
    if (change.state === 'connected') this.everSynced = true
    this.state = change.state
    if (change.state === 'closed') this.stopHeartbeat()
    this.emit('state', change)
  }

  /** Resolves at the first sync; rejects with the reason if the connection closes first or in time. */
  firstSync(timeoutMs: number): Promise<void> {
    if (this.everSynced) return Promise.resolve()
    if (this.state === 'closed') return Promise.reject(closedError(this.lastProblem))
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off()
        const why = this.lastProblem?.reason ? ` (${this.lastProblem.reason})` : ''
        reject(
          new HuddleError(
            'unreachable',
            `could not connect to ${this.options.wsUrl}/${this.options.workspace} within ${timeoutMs} ms${why}: is the server running there? Check --url or HUDDLE_URL`,
          ),
        )
      }, timeoutMs)
      const off = this.on('state', (change) => {
        if (change.state === 'connected') resolve()
        else if (change.state === 'closed') reject(closedError(change))
        else return
        clearTimeout(timer)
        off()
      })
    })
  }

  /** When a message from the server last arrived (ms since the epoch; 0 before the first). */
  get lastHeardAt(): number {
    return this.provider.wsLastMessageReceived
  }

  /**
   * While anyone holds a heartbeat, a sync step 1 goes out every `intervalMs`; the server answers
   * each, so a healthy connection is never silent for long and `lastHeardAt` stays fresh.
   */
  holdHeartbeat(intervalMs: number): () => void {
    this.heartbeatUsers++
    if (!this.heartbeatTimer && this.state !== 'closed') {
      // Only when the server has been quiet: a busy document keeps `lastHeardAt` fresh by itself,
      // and each answer costs the server a diff with the document's whole delete set.
      const probeIfQuiet = () => Date.now() - this.lastHeardAt >= intervalMs && this.probe()
      this.heartbeatTimer = setInterval(probeIfQuiet, intervalMs)
      probeIfQuiet()
    }
    let held = true
    return () => {
      if (!held) return
      held = false
      if (--this.heartbeatUsers === 0) this.stopHeartbeat()
    }
  }

  /** Sends a sync step 1 when connected; the server answers with a sync step 2. */
  private probe(): boolean {
    const ws = this.provider.ws
    if (!this.provider.wsconnected || !ws || ws.readyState !== 1) return false
    const encoder = encoding.createEncoder()
    encoding.writeVarUint(encoder, MSG_SYNC)
    syncProtocol.writeSyncStep1(encoder, this.doc)
    ws.send(encoding.toUint8Array(encoder))
    return true
  }

  private stopHeartbeat(): void {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer)
    this.heartbeatTimer = null
  }

  close(): void {
    if (this.destroyed) return
    this.destroyed = true
    this.setState({ state: 'closed', reason: 'closed by the client' })
    this.provider.awareness.destroy()
    this.provider.destroy()
    if (this.options.doc) for (const detach of this.detachDoc) detach()
    else this.doc.destroy()
  }
}

/** The error for an operation cut short because the connection closed for good. */
export function closedError(change: StateChange | null): HuddleError {
  const code: ErrorCode = change?.code === CloseCode.unauthorized ? 'unauthorized' : change?.code === CloseCode.forbidden ? 'forbidden' : 'closed'
  if (!change?.code) return new HuddleError('closed', `the connection is closed${change?.reason ? ` (${change.reason})` : ''}`)
  return new HuddleError(code, `the server closed the connection (${change.code}): ${change.reason || 'no reason given'}`)
}
