// One admitted WebSocket: rate limit, decode, hand to the room. Anything a client sends that
// breaks the rules closes this connection only, with a close code and a reason.
import type { WebSocket } from 'ws'
import { CloseCode } from '../../shared/close-codes.js'
import type { RoomName } from '../../shared/names.js'
import type { VerifiedToken } from '../auth/tokens.js'
import type { Admitted } from './admission.js'
import { decodeMessage, ProtocolError } from '../protocol/messages.js'
import type { PreparedFrame } from '../protocol/frame.js'
import type { Member } from '../rooms/audience.js'
import type { Room } from '../rooms/room.js'
import { TokenBucket } from './rate-limit.js'
import { idleSocketOf } from './ws-internals.js'
import { log } from '../log.js'

export interface ConnectionLimits {
  ratePerSecond: number
  burst: number
  /** refused hook writes tolerated per minute before the connection is closed */
  forgeriesPerMinute: number
  /** a client that stops reading is closed once this much is queued for it */
  maxBufferedBytes: number
}

export interface Refusal {
  code: number
  reason: string
  room?: RoomName
  actor?: string
  session?: string
}

export interface ConnectionEvents {
  onMessage(type: string, bytes: number): void
  onRefusal(refusal: Refusal): void
  /** a hook undid part of a write; the connection stays open */
  onForgery(refusal: Refusal): void
  onClose(connection: Connection): void
}

const MINUTE = 60_000
/** the state vector of an empty document */
const EMPTY_STATE_VECTOR = new Uint8Array([0])

export class Connection implements Member {
  readonly ownedClients = new Set<number>()
  lastSentAt = Date.now()
  alive = true
  private room: Room | null = null
  private readonly bucket: TokenBucket
  private forgeries: number[] = []
  private closed = false
  private detached = false

  readonly roomName: RoomName
  readonly identity: VerifiedToken
  readonly session: string
  readonly lockOnly: boolean

  constructor(
    private readonly ws: WebSocket,
    admission: Omit<Admitted, 'ok'>,
    private readonly limits: ConnectionLimits,
    private readonly events: ConnectionEvents,
  ) {
    this.roomName = admission.room
    this.identity = admission.identity
    this.session = admission.session
    this.lockOnly = admission.lockOnly
    this.bucket = new TokenBucket(limits.ratePerSecond, limits.burst)
    ws.on('pong', () => {
      this.alive = true
    })
    ws.on('close', () => this.closedBySocket())
  }

  get isOpen(): boolean {
    return !this.closed
  }

  attach(room: Room): void {
    if (this.closed) return
    this.room = room
    room.join(this)
  }

  /**
   * For a client that synced with another node before this one served it (cluster rebalancing):
   * it will not ask to sync again, so it is answered as if it had asked from an empty document
   * (the room's own sync step 1, sent on join, gets back what the room lacks), and sent `ask`
   * (askToRepublish: its presence is not in this room yet).
   */
  resync(ask: Uint8Array | null): void {
    // a lock-only client holds no document; its claims' notices are its own to resume
    if (this.lockOnly) return
    this.room?.receive(this, { kind: 'sync-step1', stateVector: EMPTY_STATE_VECTOR })
    if (ask) this.send(ask)
  }

  /** The presence client ids this connection published, with their clocks (cluster rebalancing hands them on). */
  presenceClocks(): Array<[number, number]> {
    const presence = this.room?.presence
    if (!presence) return []
    return [...this.ownedClients].flatMap((clientID): Array<[number, number]> => {
      const clock = presence.clockOf(clientID, this)
      return clock === undefined ? [] : [[clientID, clock]]
    })
  }

  receive(data: Buffer, isBinary: boolean): void {
    if (this.closed || !this.room) return
    if (!this.bucket.take()) {
      return this.refuse(
        CloseCode.rateLimited,
        `rate limit: more than ${this.limits.ratePerSecond} messages/s (burst ${this.limits.burst}); slow down and reconnect`,
      )
    }
    if (!isBinary) return this.refuse(CloseCode.malformed, 'text frame received: the y-websocket protocol uses binary frames')
    try {
      const message = decodeMessage(data)
      this.events.onMessage(message.kind, data.length)
      this.room.receive(this, message)
    } catch (error) {
      if (error instanceof ProtocolError) return this.refuse(CloseCode.malformed, error.message)
      // A bug of ours must cost this connection, never the process and everyone else on it.
      log('internal error while handling a message', { room: this.roomName.room, actor: this.identity.actor, error: (error as Error).stack })
      this.refuse(CloseCode.internalError, 'internal error while handling your message; it was not applied, reconnect to retry')
    }
  }

  send(frame: Uint8Array): void {
    if (this.closed) return
    if (this.ws.bufferedAmount > this.limits.maxBufferedBytes) return this.dropSlowConsumer()
    this.ws.send(frame)
    this.lastSentAt = Date.now()
  }

  /**
   * Sends a frame built once for a whole broadcast: its bytes go to the TCP socket in one write.
   * That is what `ws` itself writes for an unmasked, uncompressed binary message, and nothing can
   * be queued in its sender (no permessage-deflate, no Blobs), so the order of messages holds; if
   * the sender ever is busy, the message goes through `ws` and waits its turn there.
   */
  sendPrepared(frame: PreparedFrame, now: number): void {
    if (this.closed) return
    const socket = idleSocketOf(this.ws)
    if (!socket) {
      for (const payload of frame.payloads) this.send(payload)
      return
    }
    if (socket.writableLength > this.limits.maxBufferedBytes) return this.dropSlowConsumer()
    socket.write(frame.wire)
    this.lastSentAt = now
  }

  /**
   * Everything queued for this client stays in server memory until it reads. Past the limit it is
   * closed (1013: try again later; it will resync on reconnect), and cut off if even the close
   * frame cannot get through.
   */
  private dropSlowConsumer(): void {
    this.refuse(CloseCode.tryAgainLater, `you are not reading fast enough: more than ${this.limits.maxBufferedBytes} bytes queued; reconnect to resync`)
    setTimeout(() => this.ws.terminate(), 1000).unref()
  }

  refuse(code: number, reason: string): void {
    if (this.closed) return
    this.events.onRefusal({ code, reason, room: this.roomName, actor: this.identity.actor, session: this.session })
    this.close(code, reason)
  }

  noteForgery(reason: string): void {
    const now = Date.now()
    this.forgeries = this.forgeries.filter((at) => now - at < MINUTE)
    this.forgeries.push(now)
    this.events.onForgery({ code: CloseCode.forbidden, reason, room: this.roomName, actor: this.identity.actor, session: this.session })
    if (this.forgeries.length >= this.limits.forgeriesPerMinute) {
      // Called inside the Yjs transaction carrying the undo: leaving the room now would write the
      // session's departure into the middle of it, so close once the transaction is done.
      const count = this.forgeries.length
      queueMicrotask(() => this.refuse(CloseCode.forbidden, `${count} refused writes within a minute (last: ${reason}); fix the client before reconnecting`))
    }
  }

  close(code: number, reason: string): void {
    if (this.closed) return
    this.closed = true
    this.ws.close(code, truncateReason(reason))
    this.detach()
  }

  ping(): void {
    this.ws.ping()
  }

  terminate(): void {
    this.closed = true
    this.ws.terminate()
    this.detach()
  }

  private closedBySocket(): void {
    this.closed = true
    this.detach()
  }

  private detach(): void {
    if (this.detached) return
    this.detached = true
    const room = this.room
    this.room = null
    room?.leave(this)
    this.events.onClose(this)
  }
}

/** Close reasons are limited to 123 bytes of UTF-8 by the WebSocket protocol. */
export function truncateReason(reason: string): string {
  const bytes = Buffer.from(reason)
  if (bytes.length <= 123) return reason
  return `${bytes
    .subarray(0, 120)
    .toString('utf8')
    .replace(/\uFFFD$/, '')}...`
}
