// A WebSocket client that does what `ws` will not: it writes frames after the server's close, and
// it can send frames in the same TCP write as its upgrade request (so they arrive before the token
// is checked). It reads only what it needs: the 101, and the server's close frame.
import { randomBytes } from 'node:crypto'
import { connect, type Socket } from 'node:net'
import { withTimeout } from '../../helpers/clients.js'
import type { TestServer } from '../../helpers/server.js'

export interface CloseFrame {
  code: number
  reason: string
}

export class HostileSocket {
  /** the server's close frame, once it came */
  closeFrame: CloseFrame | null = null
  /** the TCP connection ended (the server closed or cut it off) */
  ended = false
  private received = Buffer.alloc(0)
  private upgraded = false
  private readonly socket: Socket
  readonly ready: Promise<void>
  readonly gone: Promise<void>

  private constructor(port: number, path: string, early: Buffer) {
    this.socket = connect(port, '127.0.0.1')
    this.socket.on('error', () => {})
    const key = randomBytes(16).toString('base64')
    const request = `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`
    this.socket.write(Buffer.concat([Buffer.from(request), early]))
    this.gone = new Promise((resolve) =>
      this.socket.on('close', () => {
        this.ended = true
        resolve()
      }),
    )
    this.ready = new Promise((resolve, reject) => {
      this.socket.on('data', (chunk: Buffer) => {
        this.received = Buffer.concat([this.received, chunk])
        if (!this.upgraded) {
          const end = this.received.indexOf('\r\n\r\n')
          if (end < 0) return
          const status = this.received.subarray(0, end).toString()
          if (!status.startsWith('HTTP/1.1 101')) return reject(new Error(`no upgrade: ${status.split('\r\n')[0]}`))
          this.upgraded = true
          this.received = this.received.subarray(end + 4)
          resolve()
        }
        this.readFrames()
      })
      this.gone.then(() => reject(new Error('closed before the upgrade')))
    })
  }

  static async open(server: TestServer, path: string, early: Buffer = Buffer.alloc(0)): Promise<HostileSocket> {
    const socket = new HostileSocket(server.port, path, early)
    await withTimeout(socket.ready, 5000, `upgrading ${path}`)
    return socket
  }

  /** Writes a binary frame whatever state the connection is in; false once the socket is gone. */
  send(payload: Uint8Array): boolean {
    if (this.ended) return false
    this.socket.write(frame(payload))
    return true
  }

  /** Bytes written to the socket but not yet taken by the kernel. */
  get unsent(): number {
    return this.socket.writableLength
  }

  destroy(): void {
    this.socket.destroy()
  }

  private readFrames(): void {
    while (this.received.length >= 2) {
      const opcode = this.received[0]! & 0x0f
      let length = this.received[1]! & 0x7f
      let offset = 2
      if (length === 126) {
        if (this.received.length < 4) return
        length = this.received.readUInt16BE(2)
        offset = 4
      } else if (length === 127) {
        if (this.received.length < 10) return
        length = Number(this.received.readBigUInt64BE(2))
        offset = 10
      }
      if (this.received.length < offset + length) return
      const payload = this.received.subarray(offset, offset + length)
      if (opcode === 8) this.closeFrame = { code: payload.length >= 2 ? payload.readUInt16BE(0) : 1005, reason: payload.subarray(2).toString('utf8') }
      this.received = this.received.subarray(offset + length)
    }
  }
}

/** A masked binary frame, as a client must send it. */
export function frame(payload: Uint8Array): Buffer {
  const length = payload.length
  const header =
    length < 126
      ? Buffer.from([0x82, 0x80 | length])
      : length < 65536
        ? Buffer.from([0x82, 0x80 | 126, length >> 8, length & 0xff])
        : Buffer.concat([Buffer.from([0x82, 0x80 | 127]), bigLength(length)])
  const mask = randomBytes(4)
  const body = Buffer.from(payload)
  for (let i = 0; i < body.length; i++) body[i]! ^= mask[i & 3]!
  return Buffer.concat([header, mask, body])
}

function bigLength(length: number): Buffer {
  const out = Buffer.alloc(8)
  out.writeBigUInt64BE(BigInt(length))
  return out
}

export interface FloodResult {
  /** the server's close frame (its refusal) */
  refusal: CloseFrame | null
  /** MiB the attacker wrote after the refusal */
  sentMiB: number
  /** the most the server's array buffers grew while the attack ran, after GC */
  heldBytes: number
  /** the server cut the TCP connection off */
  cutOff: boolean
}

const MIB = 1024 * 1024

/** ArrayBuffer bytes in the server after a full GC (it must run with exposeGc). */
export async function serverBuffers(server: TestServer): Promise<number> {
  return (await server.fetchJson<{ memory: { arrayBuffers: number } }>('/healthz?gc=1')).memory.arrayBuffers
}

/**
 * Opens `path` (its token is refused), then writes `mib` × 1 MiB frames regardless, sampling the
 * server's memory until the server cuts the socket off or `timeoutMs` passes.
 */
export async function floodAfterRefusal(server: TestServer, path: string, mib: number, timeoutMs = 15_000): Promise<FloodResult> {
  const baseline = await serverBuffers(server)
  const socket = await HostileSocket.open(server, path)
  const deadline = Date.now() + timeoutMs
  while (!socket.closeFrame && !socket.ended && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10))
  const chunk = new Uint8Array(MIB).fill(7)
  let sentMiB = 0
  for (; sentMiB < mib && socket.send(chunk); sentMiB++);
  let peak = 0
  while (!socket.ended && Date.now() < deadline) {
    peak = Math.max(peak, (await serverBuffers(server)) - baseline)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  const result = { refusal: socket.closeFrame, sentMiB, heldBytes: Math.max(0, peak), cutOff: socket.ended }
  socket.destroy()
  return result
}

/**
 * Other spellings of `token` that verify as the same token: base64url decoding (atob) ignores a
 * trailing `=` and the unused low bits of the last character (a 32-byte HMAC leaves 2).
 */
export function respellings(token: string): string[] {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
  const last = alphabet.indexOf(token.at(-1)!)
  const group = last - (last % 4)
  const sameBits = [0, 1, 2, 3].map((low) => `${token.slice(0, -1)}${alphabet[group + low]!}`).filter((spelling) => spelling !== token)
  return [...sameBits, `${token}=`]
}
