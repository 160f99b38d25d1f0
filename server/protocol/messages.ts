// The y-websocket wire protocol: one message per binary frame, a varUint message type, then the
// payload. Decoding is strict because every byte comes from an untrusted client; encoding is done
// once per message and the bytes are shared by every socket that receives them.
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import { LOCK_MESSAGE, type LockRequest, parseLockRequest, readLockMessage } from '../../shared/lock-channel.js'

// Type 2 (auth) is not used: admission happens at the upgrade (server/net/websocket.ts). Type 100
// is Huddle's own, spoken only by lock-only connections (shared/lock-channel.ts).
export const MessageType = { sync: 0, awareness: 1, queryAwareness: 3, lock: LOCK_MESSAGE } as const
export const SyncType = { step1: 0, step2: 1, update: 2 } as const

export type Incoming =
  | { kind: 'sync-step1'; stateVector: Uint8Array }
  | { kind: 'sync-step2'; update: Uint8Array }
  | { kind: 'update'; update: Uint8Array }
  | { kind: 'awareness'; update: Uint8Array }
  | { kind: 'query-awareness' }
  | { kind: 'lock'; request: LockRequest }

/** A frame that does not follow the protocol; the connection is closed with 4400 and this reason. */
export class ProtocolError extends Error {}

export function decodeMessage(frame: Uint8Array): Incoming {
  const decoder = decoding.createDecoder(frame)
  const message = readOrFail(() => decodeBody(decoder))
  if (decoding.hasContent(decoder)) {
    throw new ProtocolError(`message has ${frame.length - decoder.pos} unexpected trailing bytes`)
  }
  return message
}

function decodeBody(decoder: decoding.Decoder): Incoming {
  const type = decoding.readVarUint(decoder)
  switch (type) {
    case MessageType.sync:
      return decodeSync(decoder)
    case MessageType.awareness:
      return { kind: 'awareness', update: decoding.readVarUint8Array(decoder) }
    case MessageType.queryAwareness:
      return { kind: 'query-awareness' }
    case MessageType.lock: {
      const request = parseLockRequest(readLockMessage(decoder))
      if (typeof request === 'string') throw new ProtocolError(`bad lock request: ${request}`)
      return { kind: 'lock', request }
    }
    default:
      throw new ProtocolError(`unknown message type ${type}: expected 0 (sync), 1 (awareness), 3 (query awareness) or 100 (lock request)`)
  }
}

function decodeSync(decoder: decoding.Decoder): Incoming {
  const type = decoding.readVarUint(decoder)
  const payload = decoding.readVarUint8Array(decoder)
  switch (type) {
    case SyncType.step1:
      return { kind: 'sync-step1', stateVector: payload }
    case SyncType.step2:
      return { kind: 'sync-step2', update: payload }
    case SyncType.update:
      return { kind: 'update', update: payload }
    default:
      throw new ProtocolError(`unknown sync message type ${type}: expected 0 (step 1), 1 (step 2) or 2 (update)`)
  }
}

/** lib0 throws plain Errors (or RangeErrors) on truncated input; name them for the client. */
function readOrFail<T>(read: () => T): T {
  try {
    return read()
  } catch (error) {
    if (error instanceof ProtocolError) throw error
    throw new ProtocolError(`truncated or malformed message (${(error as Error).message})`)
  }
}

function encodeSync(type: number, payload: Uint8Array): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, MessageType.sync)
  encoding.writeVarUint(encoder, type)
  encoding.writeVarUint8Array(encoder, payload)
  return encoding.toUint8Array(encoder)
}

export const encodeSyncStep1 = (stateVector: Uint8Array) => encodeSync(SyncType.step1, stateVector)
export const encodeSyncStep2 = (update: Uint8Array) => encodeSync(SyncType.step2, update)
export const encodeUpdate = (update: Uint8Array) => encodeSync(SyncType.update, update)

export function encodeAwareness(update: Uint8Array): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, MessageType.awareness)
  encoding.writeVarUint8Array(encoder, update)
  return encoding.toUint8Array(encoder)
}
