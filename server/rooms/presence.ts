// Awareness for one room. Presence is untrusted: a connection may only publish states for the Yjs
// client ids it owns, and the `user` field is replaced by its authenticated identity. Changes are
// collected during an event-loop turn and leave as one message for everyone (cursor churn from
// many clients would otherwise cost one send per change per socket).
import type { Identity } from '../../shared/roles.js'
import { type AwarenessEntry, type EncodedAwarenessEntry, encodeAwarenessUpdate } from '../protocol/awareness.js'

/** Yjs may pick a new client id after a conflict, so a connection may own a few. */
export const MAX_CLIENT_IDS_PER_CONNECTION = 8

export interface PresenceOwner {
  identity: Identity
  ownedClients: Set<number>
}

interface StoredState extends EncodedAwarenessEntry {
  owner: PresenceOwner
}

export class Presence {
  private readonly states = new Map<number, StoredState>()
  private pending = new Map<number, EncodedAwarenessEntry>()

  /** Accepts the entries or returns why the whole update is refused. */
  accept(owner: PresenceOwner, entries: AwarenessEntry[]): string | null {
    for (const entry of entries) {
      const problem = this.checkOwnership(owner, entry.clientID)
      if (problem) return problem
      if (entry.state !== null && (typeof entry.state !== 'object' || Array.isArray(entry.state))) {
        return `awareness state of client ${entry.clientID} must be a JSON object or null`
      }
    }
    for (const entry of entries) this.apply(owner, entry)
    return null
  }

  private checkOwnership(owner: PresenceOwner, clientID: number): string | null {
    const holder = this.states.get(clientID)?.owner
    if (holder && holder !== owner) return `awareness client id ${clientID} belongs to another connection`
    if (!owner.ownedClients.has(clientID) && owner.ownedClients.size >= MAX_CLIENT_IDS_PER_CONNECTION) {
      return `a connection may publish presence for at most ${MAX_CLIENT_IDS_PER_CONNECTION} client ids`
    }
    return null
  }

  private apply(owner: PresenceOwner, entry: AwarenessEntry): void {
    const current = this.states.get(entry.clientID)
    if (current && entry.clock <= current.clock) return
    owner.ownedClients.add(entry.clientID)
    const json = entry.state === null ? 'null' : JSON.stringify(withIdentity(entry.state as Record<string, unknown>, owner.identity))
    const stored: StoredState = { clientID: entry.clientID, clock: entry.clock, json, owner }
    if (entry.state === null) this.states.delete(entry.clientID)
    else this.states.set(entry.clientID, stored)
    this.pending.set(entry.clientID, stored)
  }

  /** Removes every state of a closed connection, for everyone at once. */
  removeOwner(owner: PresenceOwner): void {
    for (const clientID of owner.ownedClients) {
      const current = this.states.get(clientID)
      if (!current) continue
      this.states.delete(clientID)
      this.pending.set(clientID, { clientID, clock: current.clock + 1, json: 'null' })
    }
    owner.ownedClients.clear()
  }

  /** The changes since the last call, encoded once; null when nothing changed. */
  takePending(): Uint8Array | null {
    if (this.pending.size === 0) return null
    const update = encodeAwarenessUpdate(this.pending.values())
    this.pending = new Map()
    return update
  }

  hasPending(): boolean {
    return this.pending.size > 0
  }

  /** Every current state, for a joining connection or a query-awareness message. */
  snapshot(): Uint8Array | null {
    return this.states.size === 0 ? null : encodeAwarenessUpdate(this.states.values())
  }

  get size(): number {
    return this.states.size
  }
}

const COLOR_RE = /^#[0-9a-fA-F]{6}$/

function withIdentity(state: Record<string, unknown>, identity: Identity): Record<string, unknown> {
  const claimed = state.user as Record<string, unknown> | undefined
  const color = typeof claimed?.color === 'string' && COLOR_RE.test(claimed.color) ? claimed.color : colorFor(identity.actor)
  return { ...state, user: { id: identity.actor, name: identity.name, kind: identity.kind, color } }
}

/** A stable colour per actor, so everyone sees the same person in the same colour. */
export function colorFor(actor: string): string {
  let hash = 0
  for (let i = 0; i < actor.length; i++) hash = (hash * 31 + actor.charCodeAt(i)) >>> 0
  const hue = hash % 360
  return hslToHex(hue, 65, 45)
}

function hslToHex(h: number, s: number, l: number): string {
  const a = (s / 100) * Math.min(l / 100, 1 - l / 100)
  const channel = (n: number) => {
    const k = (n + h / 30) % 12
    const value = l / 100 - a * Math.max(-1, Math.min(k - 3, 9 - k, 1))
    return Math.round(255 * value).toString(16).padStart(2, '0')
  }
  return `#${channel(0)}${channel(8)}${channel(4)}`
}
