// Rebalancing without dropping clients. An owner handing a workspace over tells each node that
// relays one of its clients so with a WebSocket close of the upstream socket, with a code no client
// is ever sent, whose reason carries what is needed to serve the client as before: the session it
// was served under (a stock client that chose none keeps the one the old owner generated) and the
// presence ids it published with their clocks. That node waits for the new owner (NewOwners, one wait per workspace): if
// it is the new owner it serves the client's open socket itself, else it relays it to the new
// owner; either way the client is resynced (a sync step 1 answered with the whole document) and
// asked to publish its presence again (askToRepublish).
import { setTimeout as delay } from 'node:timers/promises'
import type { WebSocket } from 'ws'
import { CloseCode } from '../../shared/close-codes.js'
import { truncateReason } from '../net/connection.js'
import { encodeAwarenessUpdate } from '../protocol/awareness.js'
import { encodeAwareness, encodeSyncStep1 } from '../protocol/messages.js'
import type { Owner, Ownership } from './ownership.js'
import { Moving } from './redis.js'

/** "The workspace moved: go on serving this client." Never forwarded to a client. */
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
 * A client relayed here whose owner handed its workspace over: its socket stays open, and what it
 * sends is held until `take` (called once the node serves it, in the same turn as it starts
 * listening) hands that over and stops holding.
 */
export interface HandedOver extends Handed {
  client: WebSocket
  /** the path and query the client connected with */
  path: string
  /** the node that handed it over */
  from: string
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
 * The node `workspace` moved to from `from`: this one (`self`) or another. The old owner gives its
 * lease up for it just after handing the clients over; rejects if none takes it within `withinMs`.
 * One wait serves every client handed over with the workspace (see `NewOwners`).
 */
async function waitForNewOwner(workspace: string, from: string, ownership: Pick<Ownership, 'ensure'>, withinMs: number): Promise<Owner> {
  const deadline = Date.now() + withinMs
  for (;;) {
    // Moving: the lease is kept for the node it moves to, which has not taken it yet.
    const owner = await ownership.ensure(workspace).catch((error: unknown) => {
      if (error instanceof Moving) return null
      throw error
    })
    if (owner && (owner.self || owner.node !== from)) return owner
    if (Date.now() > deadline) throw new Error(`no new owner within ${withinMs} ms`)
    await delay(20)
  }
}

/** The waits for new owners in progress, one per workspace and old owner, shared by its clients. */
export class NewOwners {
  private readonly waits = new Map<string, Promise<Owner>>()

  constructor(
    private readonly ownership: Pick<Ownership, 'ensure'>,
    private readonly withinMs: number,
  ) {}

  /**
   * The new owner of `handed`'s workspace, or null: then the client has been closed with 1013
   * (no new owner in time, a bad room, or the client left meanwhile).
   */
  async of(handed: HandedOver, workspace: string | null): Promise<Owner | null> {
    try {
      if (workspace === null) throw new Error(`bad room in ${handed.path}`)
      const owner = await this.wait(workspace, handed.from)
      if (handed.client.readyState !== handed.client.OPEN) throw new Error('the client left')
      return owner
    } catch (error) {
      handed.take()
      const reason = `workspace ${workspace} moved and its new owner could not be reached (${(error as Error).message}); reconnect`
      handed.client.close(CloseCode.tryAgainLater, truncateReason(reason))
      return null
    }
  }

  private wait(workspace: string, from: string): Promise<Owner> {
    const key = JSON.stringify([workspace, from])
    let wait = this.waits.get(key)
    if (!wait) {
      wait = waitForNewOwner(workspace, from, this.ownership, this.withinMs).finally(() => this.waits.delete(key))
      this.waits.set(key, wait)
    }
    return wait
  }
}

/** The whole document for a client that will not ask (a sync step 1 from an empty document). */
export const SYNC_FROM_EMPTY = encodeSyncStep1(new Uint8Array([0]))

/**
 * A removal of the client's own presence ids at their clocks: a y-protocols client answers it by
 * publishing its state again, with the next clock, to whoever serves it now.
 */
export function askToRepublish(presence: Array<[number, number]>): Uint8Array | null {
  if (presence.length === 0) return null
  return encodeAwareness(encodeAwarenessUpdate(presence.map(([clientID, clock]) => ({ clientID, clock, json: 'null' }))))
}
