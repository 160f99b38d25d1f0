// The server's WebSocket endpoint: upgrade, admission, keep-alive and dead-socket detection, and
// the mapping of ws's own protocol errors onto Huddle's close codes.
//
// A socket is upgraded before its token is checked, because a refused client must learn why from a
// close code (4401/4403 with a reason: the client library and the dashboard stop retrying on it; an
// HTTP 401 looks like a network error to a stock provider). Until it is admitted nothing is held for
// it beyond EARLY_BYTES, and once refused nothing more is read from it.
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import { WebSocket, WebSocketServer } from 'ws'
import { CloseCode } from '../../shared/close-codes.js'
import type { SessionBindings } from '../auth/sessions.js'
import { encodeAwareness } from '../protocol/messages.js'
import { encodeAwarenessUpdate } from '../protocol/awareness.js'
import { TryAgainLater } from '../rooms/hooks.js'
import type { Registry } from '../rooms/registry.js'
import { requestUrl } from '../http/request.js'
import { askToRepublish, type HandedOver } from '../cluster/handover.js'
import { RelayProof } from '../cluster/relay-proof.js'
import type { RoomName } from '../../shared/names.js'
import { type Admitted, admit, type Refused } from './admission.js'
import { coversWorkspace, type RevocationCheck } from '../auth/tokens.js'
import { Connection, type ConnectionEvents, type ConnectionLimits, type Refusal, truncateReason } from './connection.js'

export interface EndpointOptions extends ConnectionLimits {
  maxMessageBytes: number
  /** send something to a connection that has heard nothing for this long (y-websocket drops at 30 s) */
  keepAliveMs: number
  /** ping interval; a socket that missed a whole interval is dead */
  pingMs: number
  /** sockets (admitted or being admitted) above which a new one is refused with 1013 */
  maxConnections: number
}

export interface EndpointDeps {
  key: Uint8Array
  revoked: RevocationCheck
  /** in a cluster: rereads what other nodes revoked before a token is judged */
  fresh?: () => Promise<void>
  sessions: SessionBindings
  registry: Registry
  /** refusals of a verified identity for its own workspace (audited there) */
  events: Omit<ConnectionEvents, 'onClose'>
  /** refusals of a socket with no verified identity for the room's workspace: never audited there */
  onUnverified(refusal: Refusal): void
}

/**
 * What a socket may send before it is admitted, in bytes on the wire: a stock client's sync step 1,
 * its presence and the edits made while its token is checked fit. (Its messages are bounded by the
 * rate limit's burst: replayed after admission, more would be refused with 4429 anyway.)
 */
export const EARLY_BYTES = 32 * 1024
/** Loads of a room that fails before this connection joins it, before the connection gives up (1011). */
const OPEN_ATTEMPTS = 3
/** A refused socket that has not closed after this long is cut off. */
export const REFUSED_GRACE_MS = 1000

// An empty awareness update: harmless to every client, and it resets their 30 s watchdog.
const KEEP_ALIVE = encodeAwareness(encodeAwarenessUpdate([]))

export class WebSocketEndpoint {
  readonly connections = new Set<Connection>()
  private readonly wss: WebSocketServer
  private readonly sweepTimer: NodeJS.Timeout
  private lastPing = Date.now()
  private accepting = true
  /** connections that came through another node of a cluster */
  private readonly relayedConnections = new WeakSet<Connection>()
  private readonly relayProof: RelayProof
  /** upgraded sockets whose admission has not finished */
  private admitting = 0

  constructor(
    private readonly options: EndpointOptions,
    private readonly deps: EndpointDeps,
  ) {
    this.wss = new WebSocketServer({ noServer: true, maxPayload: options.maxMessageBytes, perMessageDeflate: false })
    this.relayProof = new RelayProof(deps.key)
    this.sweepTimer = setInterval(() => this.sweep(), 1000)
    this.sweepTimer.unref()
  }

  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (!this.accepting) {
      socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\r\n')
      return
    }
    this.wss.handleUpgrade(request, socket, head, (ws) => this.onSocket(ws, socket, request))
  }

  private onSocket(ws: WebSocket, socket: Duplex, request: IncomingMessage): void {
    this.reportErrors(ws)
    if (this.connections.size + this.admitting >= this.options.maxConnections) {
      const reason = `server full: ${this.options.maxConnections} connections (--max-connections); retry in a few seconds`
      this.deps.onUnverified({ code: CloseCode.tryAgainLater, reason })
      return refuseSocket(ws, socket, CloseCode.tryAgainLater, reason)
    }
    this.admitting++
    const early = new EarlyMessages(ws, socket, this.options.burst, (code, reason) => {
      this.deps.onUnverified({ code, reason })
      refuseSocket(ws, socket, code, reason)
    })
    const url = requestUrl(request.url)
    if (!url) {
      early.stop()
      this.admitting--
      const reason = 'malformed URL: connect to ws://HOST:PORT/<workspace>[/<path>]?token=<jwt>'
      this.deps.onUnverified({ code: CloseCode.malformed, reason })
      return refuseSocket(ws, socket, CloseCode.malformed, reason)
    }
    admit(url, this.deps.key, this.deps.revoked, this.deps.sessions, this.deps.fresh)
      .finally(() => this.admitting--)
      .then(async (admission) => {
        // Refused for what it sent meanwhile: that refusal stands.
        if (early.overflowed) return
        if (!admission.ok) {
          early.stop()
          this.refused(admission)
          return refuseSocket(ws, socket, admission.code, admission.reason)
        }
        await this.open(ws, admission, () => early.stop(), { relayed: this.relayProof.relayedBy(request) !== null, resync: null })
      })
      .catch((error: Error) => {
        early.stop()
        this.failedToOpen(ws, error)
      })
  }

  /**
   * A function of its own: a listener created in onSocket would share that call's closure scope and
   * keep the upgrade request, its URL (token included) and the early-message buffer alive for as
   * long as the socket lives, ~1.5 KB per connection.
   */
  private reportErrors(ws: WebSocket): void {
    mapProtocolErrors(ws)
    ws.on('error', (error) => {
      // Resets and other socket errors are the network's doing, not a refusal of ours.
      if (isProtocolError(error)) this.deps.events.onRefusal({ code: codeOf(error), reason: error.message })
    })
  }

  /**
   * Cluster rebalancing: a client socket this node relayed to its workspace's owner until the
   * owner handed the workspace over here. It is admitted with the request it connected with (its
   * token and session: `session` is the one the old owner generated, when it chose none) and
   * checked as a new connection would be; it is then resynced, since it will not ask to sync
   * again, and asked to publish its `presence` here. `take` returns what it sent meanwhile, and
   * stops holding.
   */
  adopt({ client: ws, path, session, presence, take: held }: HandedOver): void {
    mapProtocolErrors(ws)
    const url = requestUrl(path)
    if (!url) return void ws.close(CloseCode.malformed, 'malformed URL')
    this.admitting++
    admit(url, this.deps.key, this.deps.revoked, this.deps.sessions, this.deps.fresh, session)
      .finally(() => this.admitting--)
      .then(async (admission) => {
        if (!admission.ok) {
          held()
          this.refused(admission)
          return ws.close(admission.code, truncateReason(admission.reason))
        }
        await this.open(ws, admission, held, { relayed: false, resync: { ask: askToRepublish(presence) } })
      })
      .catch((error: Error) => {
        held()
        this.failedToOpen(ws, error)
      })
  }

  /** The connections to the rooms `matches` picks that another node relays (cluster rebalancing hands them over). */
  relayed(matches: (room: RoomName) => boolean): Connection[] {
    return [...this.connections].filter((connection) => this.relayedConnections.has(connection) && matches(connection.roomName))
  }

  private async open(
    ws: WebSocket,
    admission: Admitted,
    held: () => Array<[Buffer, boolean]>,
    { relayed, resync }: { relayed: boolean; resync: { ask: Uint8Array | null } | null },
  ): Promise<void> {
    if (ws.readyState !== WebSocket.OPEN) return void held()
    const connection = new Connection(ws, admission, this.options, {
      ...this.deps.events,
      onClose: (closed) => this.connections.delete(closed),
    })
    this.connections.add(connection)
    if (relayed) this.relayedConnections.add(connection)
    let room = await this.deps.registry.open(admission.room)
    // Connections waiting for one load resume in turn, and an earlier one's held write can fail the
    // room first. Joined, a failed room would ignore everything this client sends without closing
    // it: open it again. (Checked right before joining: any await in between reopens the window.)
    for (let attempt = 1; !room.serving; attempt++) {
      if (attempt === OPEN_ATTEMPTS) throw new Error(`${admission.room.room} failed ${OPEN_ATTEMPTS} times while loading`)
      room = await this.deps.registry.open(admission.room)
    }
    connection.attach(room)
    if (resync) connection.resync(resync.ask)
    for (const [data, isBinary] of held()) connection.receive(data, isBinary)
    ws.on('message', (data: Buffer, isBinary) => connection.receive(data, isBinary))
  }

  private failedToOpen(ws: WebSocket, error: Error): void {
    // A hook or the storage says to try again later (a service briefly down, the workspace moving
    // to another node): nothing is wrong with the client or the document.
    if (error instanceof TryAgainLater) {
      this.deps.events.onRefusal({ code: CloseCode.tryAgainLater, reason: error.message })
      return ws.close(CloseCode.tryAgainLater, truncateReason(error.message))
    }
    this.deps.events.onRefusal({ code: CloseCode.internalError, reason: `internal error: ${error.message}` })
    ws.close(CloseCode.internalError, truncateReason(`internal error while opening the document: ${error.message}; retry shortly`))
  }

  /** Only a verified identity for the room's own workspace is audited there (issue 12, finding 4). */
  private refused(admission: Refused): void {
    const { code, reason, room, identity, session } = admission
    if (room && identity && coversWorkspace(identity, room.workspace)) {
      this.deps.events.onRefusal({ code, reason, room, actor: identity.actor, ...(session ? { session } : {}) })
    } else {
      this.deps.onUnverified({ code, reason, ...(room ? { room } : {}), ...(identity ? { actor: identity.actor } : {}) })
    }
  }

  /** Once a second: expired and revoked tokens, keep-alive for quiet connections, and (every pingMs) dead sockets. */
  private sweep(): void {
    const now = Date.now()
    const ping = now - this.lastPing >= this.options.pingMs
    if (ping) this.lastPing = now
    for (const connection of this.connections) {
      if (now >= connection.identity.expiresAt) {
        connection.refuse(CloseCode.unauthorized, 'token expired while connected: reconnect with a fresh token (`huddle token`)')
        continue
      }
      const revoked = this.deps.revoked(connection.identity)
      if (revoked) {
        connection.refuse(CloseCode.unauthorized, revoked)
        continue
      }
      if (ping) {
        if (!connection.alive) {
          connection.terminate()
          continue
        }
        connection.alive = false
        connection.ping()
      }
      if (now - connection.lastSentAt >= this.options.keepAliveMs) connection.send(KEEP_ALIVE)
    }
  }

  stopAccepting(): void {
    this.accepting = false
  }

  closeAll(code: number, reason: string): void {
    for (const connection of [...this.connections]) connection.close(code, reason)
  }

  close(): void {
    clearInterval(this.sweepTimer)
    this.wss.close()
  }
}

/**
 * Messages that arrive while a socket's token is being checked, kept for the connection, and
 * bounded: more than `maxMessages` (4429, as the rate limit would) or EARLY_BYTES on the wire
 * (4413; counted as raw bytes, so a large frame still arriving counts too) refuses the socket.
 */
class EarlyMessages {
  private readonly held: Array<[Buffer, boolean]> = []
  private bytes = 0
  overflowed = false

  constructor(
    private readonly ws: WebSocket,
    private readonly socket: Duplex,
    private readonly maxMessages: number,
    private readonly onOverflow: (code: number, reason: string) => void,
  ) {
    ws.on('message', this.hold)
    socket.on('data', this.count)
  }

  private readonly hold = (data: Buffer, isBinary: boolean): void => {
    this.held.push([data, isBinary])
    if (this.held.length > this.maxMessages)
      this.overflow(CloseCode.rateLimited, `rate limit: more than ${this.maxMessages} messages before your token was checked; slow down and reconnect`)
  }

  private readonly count = (chunk: Buffer): void => {
    this.bytes += chunk.length
    if (this.bytes > EARLY_BYTES)
      this.overflow(
        CloseCode.tooLarge,
        `sent more than ${EARLY_BYTES} bytes before your token was checked: wait for the server's first message before sending more`,
      )
  }

  private overflow(code: number, reason: string): void {
    if (this.overflowed) return
    this.overflowed = true
    this.stop()
    this.onOverflow(code, reason)
  }

  /** Stops holding and counting; returns what was held. */
  stop(): Array<[Buffer, boolean]> {
    this.ws.off('message', this.hold)
    this.socket.off('data', this.count)
    return this.held.splice(0)
  }
}

/**
 * Closes a socket that was never admitted with its code and reason, then reads nothing more from
 * it (ws would otherwise go on parsing and emitting whatever the peer sends until its 30 s close
 * timeout). Ending our side right after the close frame lets a well-behaved client finish its
 * close at once without us reading its reply; one that has not gone after a short grace is cut off.
 */
function refuseSocket(ws: WebSocket, socket: Duplex, code: number, reason: string): void {
  ws.removeAllListeners('message')
  ws.close(code, truncateReason(reason))
  socket.removeAllListeners('data')
  socket.pause()
  socket.end()
  setTimeout(() => ws.terminate(), REFUSED_GRACE_MS).unref()
}

// ws closes with 1009 for an oversized message and 1002/1007 for broken frames, calling the
// instance's close(); route those through Huddle's codes so clients see 4413 and 4400 as documented.
const RECEIVER_CODES: Record<number, [number, string]> = {
  1009: [CloseCode.tooLarge, 'message too large: split the change into smaller updates'],
  1002: [CloseCode.malformed, 'malformed WebSocket frame'],
  1007: [CloseCode.malformed, 'malformed WebSocket frame (invalid UTF-8)'],
}

function mapProtocolErrors(ws: WebSocket): void {
  const close = ws.close.bind(ws)
  ws.close = (code?: number, reason?: string | Buffer) => {
    const mapped = code === undefined ? undefined : RECEIVER_CODES[code]
    if (mapped) close(mapped[0], mapped[1])
    else close(code, reason)
  }
}

function isProtocolError(error: Error): boolean {
  return ((error as { code?: string }).code ?? '').startsWith('WS_ERR_')
}

function codeOf(error: Error): number {
  return (error as { code?: string }).code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' ? CloseCode.tooLarge : CloseCode.malformed
}
