// The WebSocket front door: upgrade, admission, keep-alive and dead-socket detection, and the
// mapping of ws's own protocol errors onto Huddle's close codes.
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import { WebSocket, WebSocketServer } from 'ws'
import { CloseCode } from '../../shared/close-codes.js'
import type { SessionBindings } from '../auth/sessions.js'
import { encodeAwareness } from '../protocol/messages.js'
import { encodeAwarenessUpdate } from '../protocol/awareness.js'
import type { Registry } from '../rooms/registry.js'
import { admit } from './admission.js'
import type { RevocationCheck } from '../auth/tokens.js'
import { Connection, type ConnectionEvents, type ConnectionLimits, truncateReason } from './connection.js'

export interface FrontDoorOptions extends ConnectionLimits {
  maxMessageBytes: number
  /** send something to a connection that has heard nothing for this long (y-websocket drops at 30 s) */
  keepAliveMs: number
  /** ping interval; a socket that missed a whole interval is dead */
  pingMs: number
}

export interface FrontDoorDeps {
  key: Uint8Array
  revoked: RevocationCheck
  sessions: SessionBindings
  registry: Registry
  events: Omit<ConnectionEvents, 'onClose'>
}

// An empty awareness update: harmless to every client, and it resets their 30 s watchdog.
const KEEP_ALIVE = encodeAwareness(encodeAwarenessUpdate([]))

export class FrontDoor {
  readonly connections = new Set<Connection>()
  private readonly wss: WebSocketServer
  private readonly sweepTimer: NodeJS.Timeout
  private lastPing = Date.now()
  private accepting = true

  constructor(private readonly options: FrontDoorOptions, private readonly deps: FrontDoorDeps) {
    this.wss = new WebSocketServer({ noServer: true, maxPayload: options.maxMessageBytes, perMessageDeflate: false })
    this.sweepTimer = setInterval(() => this.sweep(), 1000)
    this.sweepTimer.unref()
  }

  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (!this.accepting) {
      socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\r\n')
      return
    }
    this.wss.handleUpgrade(request, socket, head, (ws) => this.onSocket(ws, request))
  }

  private onSocket(ws: WebSocket, request: IncomingMessage): void {
    mapProtocolErrors(ws)
    const early: Array<[Buffer, boolean]> = []
    const buffer = (data: Buffer, isBinary: boolean) => early.push([data, isBinary])
    ws.on('message', buffer)
    ws.on('error', (error) => {
      // Resets and other socket errors are the network's doing, not a refusal of ours.
      if (isProtocolError(error)) this.deps.events.onRefusal({ code: codeOf(error), reason: error.message })
    })
    const url = new URL(request.url ?? '/', 'http://localhost')
    admit(url, this.deps.key, this.deps.revoked, this.deps.sessions)
      .then(async (admission) => {
        if (!admission.ok) {
          this.deps.events.onRefusal({ code: admission.code, reason: admission.reason, ...(admission.room ? { room: admission.room } : {}), ...(admission.identity ? { actor: admission.identity.actor } : {}), ...(admission.session ? { session: admission.session } : {}) })
          ws.close(admission.code, truncateReason(admission.reason))
          return
        }
        if (ws.readyState !== WebSocket.OPEN) return
        const connection = new Connection(ws, admission.room, admission.identity, admission.session, this.options, {
          ...this.deps.events,
          onClose: (closed) => this.connections.delete(closed),
        })
        this.connections.add(connection)
        const room = await this.deps.registry.open(admission.room)
        connection.attach(room)
        ws.off('message', buffer)
        ws.on('message', (data: Buffer, isBinary) => connection.receive(data, isBinary))
        for (const [data, isBinary] of early) connection.receive(data, isBinary)
      })
      .catch((error: Error) => {
        this.deps.events.onRefusal({ code: CloseCode.internalError, reason: `internal error: ${error.message}` })
        ws.close(CloseCode.internalError, truncateReason(`internal error while opening the document: ${error.message}; retry shortly`))
      })
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
