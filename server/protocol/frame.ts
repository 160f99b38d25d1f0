// A server message framed once for many sockets. The WebSocket framing of a server-to-client
// message (RFC 6455 §5.2: FIN, binary opcode, no mask) is identical for every socket, so a
// broadcast builds header + payload once and every socket gets the same bytes in one write,
// instead of `ws` framing it again per socket (a header allocation, a cork and a two-buffer
// writev each). Measured: see BENCHMARKS.md, scenario A.

export interface PreparedFrame {
  /** the y-websocket messages, in order, for sockets that must go through `ws` after all */
  payloads: readonly Uint8Array[]
  /** their complete WebSocket frames, back to back: one write sends them all */
  wire: Buffer
  /** the payloads' bytes */
  bytes: number
}

export function prepareFrame(payload: Uint8Array): PreparedFrame {
  return prepareFrames([payload])
}

/** Several messages in one write (a socket write costs far more than the bytes it copies). */
export function prepareFrames(payloads: readonly Uint8Array[]): PreparedFrame {
  let size = 0
  let bytes = 0
  for (const payload of payloads) {
    size += headerLength(payload.length) + payload.length
    bytes += payload.length
  }
  const wire = Buffer.allocUnsafe(size)
  let offset = 0
  for (const payload of payloads) offset = writeFrame(wire, offset, payload)
  return { payloads, wire, bytes }
}

function headerLength(length: number): number {
  return length < 126 ? 2 : length < 65536 ? 4 : 10
}

/** Writes `payload` as one frame at `offset` of `wire`; returns where the next frame starts. */
function writeFrame(wire: Buffer, offset: number, payload: Uint8Array): number {
  const length = payload.length
  const header = headerLength(length)
  wire[offset] = 0x82 // FIN + binary
  if (header === 2) {
    wire[offset + 1] = length
  } else if (header === 4) {
    wire[offset + 1] = 126
    wire.writeUInt16BE(length, offset + 2)
  } else {
    wire[offset + 1] = 127
    wire.writeUInt32BE(Math.floor(length / 2 ** 32), offset + 2)
    wire.writeUInt32BE(length >>> 0, offset + 6)
  }
  wire.set(payload, offset + header)
  return offset + header + length
}
