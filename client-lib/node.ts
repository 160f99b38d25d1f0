// The Node entry: the same library, with `ws` as the WebSocket implementation.
import { WebSocket } from 'ws'
import { connect as connectWith, type ConnectOptions, connectLocks as connectLocksWith, type Huddle, type LockClient, type LockClientOptions } from './index.js'

export * from './index.js'

export function connect(options: ConnectOptions): Promise<Huddle> {
  return connectWith({ WebSocket: WebSocket as unknown as typeof globalThis.WebSocket, ...options })
}

/** A lock-only connection (client-lib/lock-only.ts), with `ws`. */
export function connectLocks(options: LockClientOptions): Promise<LockClient> {
  return connectLocksWith({ WebSocket: WebSocket as unknown as typeof globalThis.WebSocket, ...options })
}
