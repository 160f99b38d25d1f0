// The Node entry: the same library, with `ws` as the WebSocket implementation.
import { WebSocket } from 'ws'
import { connect as connectWith, type ConnectOptions, type Huddle } from './index.js'

export * from './index.js'

export function connect(options: ConnectOptions): Promise<Huddle> {
  return connectWith({ WebSocket: WebSocket as unknown as typeof globalThis.WebSocket, ...options })
}
