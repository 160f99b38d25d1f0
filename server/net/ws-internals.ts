// The one place that reaches into `ws` internals (ws 8). A broadcast frame is built once and its
// bytes written straight to each TCP socket (protocol/frame.ts; measured in BENCHMARKS.md, A),
// which is only safe while ws's own sender has nothing queued or in progress for that socket.
// tests/ws-internals.test.ts fails if an upgrade of ws renames or changes what is read here;
// until this is fixed, every send would take the slower path through ws.
import type { Socket } from 'node:net'
import { WebSocket } from 'ws'

interface WsInternals {
  _socket?: Socket
  _sender?: { _state?: unknown; _queue?: unknown }
}

/** The TCP socket of `ws` if a complete frame may be written to it now, else null (use ws.send). */
export function idleSocketOf(ws: WebSocket): Socket | null {
  if (ws.readyState !== WebSocket.OPEN) return null
  const { _socket: socket, _sender: sender } = ws as WebSocket & WsInternals
  if (!socket || !sender || sender._state !== 0 || !Array.isArray(sender._queue) || sender._queue.length !== 0) return null
  return socket
}
