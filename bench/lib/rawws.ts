// A minimal WebSocket client over a plain TCP socket, for the thousands of observer connections:
// a handshake, an unmasked-frame parser that hands over whole small messages and skips the bodies
// of large ones, pong replies, and masked sends (with a zero mask key, which RFC 6455 allows and
// which needs no copying). The `ws` client costs several times more CPU per message, and the
// client processes share the two cores with the server being measured.
import { randomBytes } from 'node:crypto'
import { connect as tcpConnect, type Socket } from 'node:net'

/**
 * Messages larger than this are reported by their first bytes only (e.g. a 1 MB sync step 2), once
 * their last byte has arrived: a client has a sync reply when it has all of it.
 */
const WHOLE_LIMIT = 64 * 1024
const HEAD_BYTES = 64
/**
 * Every socket of the process reads into this one buffer (`onread`): no allocation per read, and
 * reads of up to 1 MB instead of 64 KB. Safe because each read is parsed before the next one
 * starts, and whatever outlives it (a partial frame, the handshake) is copied.
 */
const READ_BUFFER = Buffer.allocUnsafe(1 << 20)

export interface RawMessage {
  /** the whole message, or its first bytes when `length` is larger than WHOLE_LIMIT */
  data: Buffer
  length: number
}

export interface RawHandlers {
  message(message: RawMessage): void
  close(code: number): void
}

export class RawWs {
  private pending: Buffer[] = []
  private pendingBytes = 0
  /** bytes of a large message body still to skip */
  private skip = 0
  /** the report of the large message being skipped, sent when its last byte is in */
  private skipped: RawMessage | null = null
  closed = false

  private constructor(
    readonly socket: Socket,
    private readonly handlers: RawHandlers,
  ) {}

  /** Opens a socket, upgrades it, and resolves once the server switched protocols. */
  static open(host: string, port: number, path: string, handlers: RawHandlers, timeoutMs = 30_000): Promise<RawWs> {
    return new Promise((resolve, reject) => {
      let onRead = (_chunk: Buffer) => {}
      const socket = tcpConnect({
        host,
        port,
        onread: {
          buffer: READ_BUFFER,
          callback: (bytes) => {
            onRead(READ_BUFFER.subarray(0, bytes))
            return true
          },
        },
      })
      socket.setNoDelay(true)
      let head: Buffer = Buffer.alloc(0)
      const timer = setTimeout(() => fail(new Error(`handshake timed out after ${timeoutMs} ms`)), timeoutMs)
      const fail = (error: Error) => {
        clearTimeout(timer)
        socket.destroy()
        reject(error)
      }
      socket.once('error', fail)
      socket.once('connect', () => {
        socket.write(
          `GET ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
            `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
        )
      })
      const onHead = (chunk: Buffer) => {
        head = Buffer.concat([head, chunk])
        const end = head.indexOf('\r\n\r\n')
        if (end < 0) return
        socket.off('error', fail)
        clearTimeout(timer)
        const status = head.subarray(0, head.indexOf('\r\n')).toString()
        if (!/^HTTP\/1\.1 101/.test(status)) {
          socket.destroy()
          reject(new Error(`upgrade refused: ${status}`))
          return
        }
        const ws = new RawWs(socket, handlers)
        onRead = (data) => ws.onData(data)
        socket.on('close', () => ws.onClose(1006))
        socket.on('error', () => ws.onClose(1006))
        resolve(ws)
        const rest = head.subarray(end + 4)
        if (rest.length > 0) ws.onData(rest)
      }
      onRead = onHead
    })
  }

  send(payload: Uint8Array, opcode = 0x2): void {
    if (this.closed) return
    const length = payload.length
    const extra = length > 65535 ? 8 : length > 125 ? 2 : 0
    const frame = Buffer.allocUnsafe(2 + extra + 4 + length)
    frame[0] = 0x80 | opcode
    if (extra === 0) frame[1] = 0x80 | length
    else if (extra === 2) {
      frame[1] = 0x80 | 126
      frame.writeUInt16BE(length, 2)
    } else {
      frame[1] = 0x80 | 127
      frame.writeUInt32BE(0, 2)
      frame.writeUInt32BE(length, 6)
    }
    frame.writeUInt32BE(0, 2 + extra) // zero mask key: the payload goes as is
    frame.set(payload, 6 + extra)
    this.socket.write(frame)
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    this.socket.destroy()
  }

  private onClose(code: number): void {
    if (this.closed) return
    this.closed = true
    this.handlers.close(code)
  }

  private onData(chunk: Buffer): void {
    if (this.skip > 0) {
      if (chunk.length < this.skip) {
        this.skip -= chunk.length
        return
      }
      chunk = chunk.subarray(this.skip)
      this.skip = 0
      this.handlers.message(this.skipped!)
      this.skipped = null
      if (chunk.length === 0) return
    }
    let buffer: Buffer
    if (this.pendingBytes > 0) {
      this.pending.push(chunk)
      buffer = Buffer.concat(this.pending, this.pendingBytes + chunk.length)
      this.pending = []
      this.pendingBytes = 0
    } else {
      buffer = chunk
    }
    let offset = 0
    while (offset < buffer.length) {
      const available = buffer.length - offset
      if (available < 2) break
      const opcode = buffer[offset]! & 0x0f
      let length = buffer[offset + 1]! & 0x7f
      let headerBytes = 2
      if (length === 126) {
        if (available < 4) break
        length = buffer.readUInt16BE(offset + 2)
        headerBytes = 4
      } else if (length === 127) {
        if (available < 10) break
        length = buffer.readUInt32BE(offset + 2) * 2 ** 32 + buffer.readUInt32BE(offset + 6)
        headerBytes = 10
      }
      const bodyStart = offset + headerBytes
      if (length > WHOLE_LIMIT && opcode === 0x2) {
        // Report a large message as soon as its first bytes are here, then skip the rest.
        if (buffer.length - bodyStart < HEAD_BYTES) break
        const report = { data: Buffer.from(buffer.subarray(bodyStart, bodyStart + HEAD_BYTES)), length }
        const inBuffer = buffer.length - bodyStart
        if (inBuffer >= length) {
          this.handlers.message(report)
          offset = bodyStart + length
          continue
        }
        this.skip = length - inBuffer
        this.skipped = report
        return
      }
      if (buffer.length - bodyStart < length) break
      const body = buffer.subarray(bodyStart, bodyStart + length)
      offset = bodyStart + length
      if (opcode === 0x2 || opcode === 0x1) this.handlers.message({ data: body, length })
      else if (opcode === 0x9) this.send(body, 0xa)
      else if (opcode === 0x8) {
        const code = body.length >= 2 ? body.readUInt16BE(0) : 1005
        this.onClose(code)
        this.socket.destroy()
        return
      }
    }
    if (offset < buffer.length) {
      // keep the partial frame (copied: the chunk's memory may be reused)
      const rest = Buffer.from(buffer.subarray(offset))
      this.pending.push(rest)
      this.pendingBytes = rest.length
    }
  }
}
