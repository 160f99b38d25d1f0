// A server message framed once for many sockets. The WebSocket framing of a server-to-client
// message (RFC 6455 §5.2: FIN, binary opcode, no mask) is identical for every socket, so a
// broadcast builds header + payload once and every socket gets the same bytes in one write,
// instead of `ws` framing it again per socket (a header allocation, a cork and a two-buffer
// writev each). Measured: see BENCHMARKS.md, scenario A.

export interface PreparedFrame {
  /** the y-websocket message, for sockets that must go through `ws` after all */
  payload: Uint8Array
  /** the complete WebSocket frame */
  wire: Buffer
}

export function prepareFrame(payload: Uint8Array): PreparedFrame {
  const length = payload.length
  const header = length < 126 ? 2 : length < 65536 ? 4 : 10
  const wire = Buffer.allocUnsafe(header + length)
  wire[0] = 0x82 // FIN + binary
  if (header === 2) {
    wire[1] = length
  } else if (header === 4) {
    wire[1] = 126
    wire.writeUInt16BE(length, 2)
  } else {
    wire[1] = 127
    wire.writeUInt32BE(Math.floor(length / 2 ** 32), 2)
    wire.writeUInt32BE(length >>> 0, 6)
  }
  wire.set(payload, header)
  return { payload, wire }
}
