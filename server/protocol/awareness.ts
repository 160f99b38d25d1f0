// Awareness updates: [count, (clientID, clock, JSON state)*]. Kept apart from y-protocols'
// Awareness class because the server never has a local state, must not run its 30 s timer per
// room, and has to inspect every entry before accepting it.
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import { ProtocolError } from './messages.js'

export interface AwarenessEntry {
  clientID: number
  clock: number
  /** parsed JSON; null removes the client's state */
  state: unknown
  /** the state's size as sent (UTF-8 JSON) */
  bytes: number
}

const utf8 = new TextDecoder()

export function decodeAwarenessUpdate(update: Uint8Array): AwarenessEntry[] {
  const decoder = decoding.createDecoder(update)
  try {
    const count = decoding.readVarUint(decoder)
    const entries: AwarenessEntry[] = []
    for (let i = 0; i < count; i++) {
      const clientID = decoding.readVarUint(decoder)
      const clock = decoding.readVarUint(decoder)
      const json = decoding.readVarUint8Array(decoder)
      const state: unknown = JSON.parse(utf8.decode(json))
      if (state !== null && (typeof state !== 'object' || Array.isArray(state))) throw new Error(`state of client ${clientID} must be a JSON object or null`)
      entries.push({ clientID, clock, state, bytes: json.length })
    }
    if (decoding.hasContent(decoder)) throw new Error('unexpected trailing bytes')
    return entries
  } catch (error) {
    throw new ProtocolError(`malformed awareness update (${(error as Error).message})`)
  }
}

/** Entries whose state is already a JSON string, so a state is stringified once, not per send. */
export interface EncodedAwarenessEntry {
  clientID: number
  clock: number
  json: string
}

export function encodeAwarenessUpdate(entries: Iterable<EncodedAwarenessEntry>): Uint8Array {
  const list = [...entries]
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, list.length)
  for (const entry of list) {
    encoding.writeVarUint(encoder, entry.clientID)
    encoding.writeVarUint(encoder, entry.clock)
    encoding.writeVarString(encoder, entry.json)
  }
  return encoding.toUint8Array(encoder)
}
