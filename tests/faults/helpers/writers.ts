// Raw clients that write uniquely named keys into a content document and keep, in a mirror
// document, exactly what the server sent them. What a mirror holds is what the server
// acknowledged: it sends nothing before it is on disk (persist before broadcast).
import * as Y from 'yjs'
import { decodeFrame, type RawClient, rawConnect, syncStep1Frame, updateFrame, waitFor } from '../../helpers/clients.js'
import type { TestServer } from '../../helpers/server.js'

export class KeyWriter {
  /** what the server sent this client */
  readonly mirror = new Y.Doc()
  private readonly local = new Y.Doc()
  private last: Uint8Array | null = null
  /** keys this client sent */
  readonly sent: string[] = []

  private constructor(
    readonly client: RawClient,
    readonly room: string,
  ) {
    this.local.on('update', (update: Uint8Array) => {
      this.last = update
    })
    client.ws.on('message', (data: Buffer) => {
      try {
        const frame = decodeFrame(new Uint8Array(data))
        if (frame.kind === 'update' || frame.kind === 'sync-step2') Y.applyUpdate(this.mirror, frame.payload)
      } catch {
        // not ours to judge here
      }
      client.messages.splice(0)
    })
  }

  static async open(server: TestServer, room: string, token: string, session?: string): Promise<KeyWriter> {
    const client = await rawConnect(server, room, { token, ...(session ? { session } : {}) })
    const writer = new KeyWriter(client, room)
    if (client.isOpen) client.send(syncStep1Frame(new Uint8Array([0])))
    return writer
  }

  get closeInfo() {
    return this.client.closeInfo
  }

  /** Sets `key` in map 'keys' and sends the update (nothing is sent once the socket is closed). */
  write(key: string, value: unknown = Date.now()): void {
    this.local.getMap('keys').set(key, value)
    this.sent.push(key)
    this.client.send(updateFrame(this.last!))
  }

  /** Keys the server sent back (this client's or anyone's). */
  acked(): Set<string> {
    return new Set(this.mirror.getMap('keys').keys())
  }

  /** Waits for the echo of `key`; false if the socket closed first. */
  async waitAck(key: string, timeoutMs = 5000): Promise<boolean> {
    try {
      await waitFor(
        () => {
          if (this.mirror.getMap('keys').has(key)) return true
          if (this.client.closeInfo) throw new Error('closed')
          return false
        },
        timeoutMs,
        `the echo of ${key}`,
      )
      return true
    } catch (error) {
      if (this.client.closeInfo) return false
      throw error
    }
  }

  close(): void {
    this.client.close()
  }

  destroy(): void {
    this.client.terminate()
    this.mirror.destroy()
    this.local.destroy()
  }
}

/** The document as a fresh client receives it (sync step 1 with an empty state vector). */
export async function readDoc(server: TestServer, room: string, token: string, session?: string): Promise<Y.Doc> {
  const client = await rawConnect(server, room, { token, ...(session ? { session } : {}) })
  try {
    await client.roundTrip(10_000)
    const doc = new Y.Doc()
    for (const message of client.messages) {
      const frame = decodeFrame(message)
      if (frame.kind === 'sync-step2' || frame.kind === 'update') Y.applyUpdate(doc, frame.payload)
    }
    return doc
  } finally {
    client.close()
  }
}

/** State vector of `doc` as a map. */
export function stateVector(doc: Y.Doc): Map<number, number> {
  return Y.decodeStateVector(Y.encodeStateVector(doc))
}

/** Raises `into` to at least every clock of `sv` (the union of what was observed). */
export function mergeStateVector(into: Map<number, number>, sv: Map<number, number>, except?: number): void {
  for (const [client, clock] of sv) {
    if (client === except) continue
    if ((into.get(client) ?? 0) < clock) into.set(client, clock)
  }
}

/** Entries of `observed` that `actual` does not reach: [client, observed clock, actual clock]. */
export function missingFrom(actual: Map<number, number>, observed: Map<number, number>): Array<[number, number, number]> {
  const missing: Array<[number, number, number]> = []
  for (const [client, clock] of observed) {
    const have = actual.get(client) ?? 0
    if (have < clock) missing.push([client, clock, have])
  }
  return missing
}
