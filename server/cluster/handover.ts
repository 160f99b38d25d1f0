// What an owner tells the node it hands a workspace over to (rebalancing), about each client that
// node relays: a WebSocket close of the upstream socket with a code no client is ever sent, whose
// reason carries what the new owner needs to serve the client as before — the session it was
// served under (a stock client that chose none keeps the one the old owner generated) and the
// presence ids it published with their clocks (the new owner asks the client to publish again).
// That node then waits for the lease the old owner gives up for it (awaitLease).
import { setTimeout as delay } from 'node:timers/promises'
import type { WebSocket } from 'ws'
import type { Ownership } from './ownership.js'
import { Moving } from './redis.js'

/** "This workspace is yours now: serve this client yourself." Never forwarded to a client. */
export const HANDED_OVER = 4990
const PREFIX = 'handed over '
/** a close reason's limit: 123 bytes of UTF-8 */
const MAX_REASON = 123
const SESSION_RE = /^[A-Za-z0-9_-]{16,64}$/
const PRESENCE_RE = /^(\d{1,16}):(\d{1,16})$/

export interface Handed {
  session: string
  /** presence client ids with their last clocks; some may be left out for room (they renew within 15 s) */
  presence: Array<[number, number]>
}

/**
 * A client whose owner handed its workspace to this node: its socket stays open, and what it
 * sends is held until `take` (called once the node serves it, in the same turn as it starts
 * listening) hands that over and stops holding.
 */
export interface HandedOver extends Handed {
  client: WebSocket
  /** the path and query the client connected with */
  path: string
  take(): Array<[Buffer, boolean]>
}

export function handedOverReason({ session, presence }: Handed): string {
  let reason = `${PREFIX}${session}`
  for (const [clientID, clock] of presence) {
    const next = `${reason} ${clientID}:${clock}`
    if (next.length > MAX_REASON) break
    reason = next
  }
  return reason
}

/** The close reason of HANDED_OVER read back; null when it is not one. */
export function parseHandedOver(reason: string): Handed | null {
  if (!reason.startsWith(PREFIX)) return null
  const [session, ...entries] = reason.slice(PREFIX.length).split(' ')
  if (!session || !SESSION_RE.test(session)) return null
  const presence: Array<[number, number]> = []
  for (const entry of entries) {
    const match = PRESENCE_RE.exec(entry)
    if (!match) return null
    presence.push([Number(match[1]), Number(match[2])])
  }
  return { session, presence }
}

/**
 * On the node a workspace moves to: waits until it holds the workspace's lease, which the old
 * owner gives up for it just after handing the clients over. Throws after `withinMs`, or once the
 * client is gone (`wanted` false).
 */
export async function awaitLease(ownership: Pick<Ownership, 'ensure'>, workspace: string, withinMs: number, wanted: () => boolean): Promise<void> {
  const deadline = Date.now() + withinMs
  for (;;) {
    // Moving: kept for another node, which cannot be while the old owner hands it here; retry.
    const owner = await ownership.ensure(workspace).catch((error: unknown) => {
      if (error instanceof Moving) return null
      throw error
    })
    if (owner?.self) return
    if (!wanted()) throw new Error('the client left')
    if (Date.now() > deadline) throw new Error(`its lease did not come within ${withinMs} ms`)
    await delay(20)
  }
}
