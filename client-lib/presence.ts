// Presence on the coordination document: y-protocols awareness for what each connection is doing
// (the server forces `user` to the token's identity) joined with the server's `sessions` map for
// who is connected, so agents without a presence state still show up.
import { PRESENCE_STATUSES, type PresenceStatus, type SessionValue } from '../shared/coordination.js'
import type { Kind, Role } from '../shared/roles.js'
import { type ClientContext, touches } from './context.js'
import { HuddleError } from './errors.js'

export { PRESENCE_STATUSES, type PresenceStatus }

/** What a client may publish about itself; null removes a field. */
export interface PresenceUpdate {
  status?: PresenceStatus
  /** what an agent is doing: `editing`, `reviewing`, `testing`, … */
  activity?: string | null
  /** the document or thing being looked at */
  viewing?: string | null
  typing?: boolean | null
  cursor?: unknown
  selection?: unknown
}

export interface OnlineMember {
  actor: string
  name: string
  kind: Kind
  role: Role
  status?: PresenceStatus
  activity?: string
  viewing?: string
  typing?: boolean
  /** the member's connected sessions */
  sessions: string[]
  /** the earliest connection time among them (server time) */
  connectedAt: number
  /** true for this client's own actor */
  self: boolean
}

interface AwarenessState {
  user?: { id?: string }
  status?: PresenceStatus
  activity?: string
  viewing?: string
  typing?: boolean
}

const STRING_FIELDS = ['activity', 'viewing'] as const

export class Presence {
  constructor(private readonly ctx: ClientContext) {
    const { actor, name, kind } = ctx.identity
    this.awareness.setLocalState({ user: { id: actor, name, kind }, status: 'active' })
  }

  private get awareness() {
    return this.ctx.conn.provider.awareness
  }

  /** Merges `update` into this client's presence and publishes it. */
  set(update: PresenceUpdate): void {
    checkUpdate(update)
    const state = { ...(this.awareness.getLocalState() ?? {}) } as Record<string, unknown>
    for (const [field, value] of Object.entries(update)) {
      if (value === null || value === undefined) delete state[field]
      else state[field] = value
    }
    this.awareness.setLocalState(state)
  }

  /** This client's own published state. */
  get local(): Record<string, unknown> {
    return this.awareness.getLocalState() ?? {}
  }

  /** Everyone connected to the workspace now, humans and agents, one entry per actor. */
  list(): OnlineMember[] {
    const states = [...this.awareness.getStates().values()] as AwarenessState[]
    const members = new Map<string, OnlineMember>()
    for (const [session, raw] of this.ctx.maps.sessions.entries()) {
      const value = raw as SessionValue
      if (!value.online) continue
      const member = members.get(value.actor)
      if (member) {
        member.sessions.push(session)
        member.connectedAt = Math.min(member.connectedAt, value.connectedAt)
        continue
      }
      members.set(value.actor, {
        actor: value.actor,
        name: value.name,
        kind: value.kind,
        role: value.role,
        ...presenceOf(states.filter((state) => state.user?.id === value.actor)),
        sessions: [session],
        connectedAt: value.connectedAt,
        self: value.actor === this.ctx.identity.actor,
      })
    }
    return [...members.values()].sort((a, b) => a.actor.localeCompare(b.actor))
  }

  /** Calls `listener` whenever presence or the set of connected sessions changes. */
  onChange(listener: () => void): () => void {
    const onAwareness = () => listener()
    this.awareness.on('change', onAwareness)
    const offSessions = this.ctx.conn.on('change', (transaction) => touches(transaction, [this.ctx.maps.sessions]) && listener())
    return () => {
      this.awareness.off('change', onAwareness)
      offSessions()
    }
  }
}

/** The most present of an actor's states (active beats idle beats away) decides what is shown. */
function presenceOf(states: AwarenessState[]): Pick<OnlineMember, 'status' | 'activity' | 'viewing' | 'typing'> {
  const best = states
    .filter((state) => PRESENCE_STATUSES.includes(state.status as PresenceStatus))
    .sort((a, b) => PRESENCE_STATUSES.indexOf(a.status!) - PRESENCE_STATUSES.indexOf(b.status!))[0]
  if (!best) return {}
  return {
    status: best.status!,
    ...(typeof best.activity === 'string' ? { activity: best.activity } : {}),
    ...(typeof best.viewing === 'string' ? { viewing: best.viewing } : {}),
    ...(typeof best.typing === 'boolean' ? { typing: best.typing } : {}),
  }
}

function checkUpdate(update: PresenceUpdate): void {
  if (typeof update !== 'object' || update === null)
    throw new HuddleError('invalid-argument', 'presence must be an object like {status: "active", activity: "testing"}')
  if ('user' in update) throw new HuddleError('invalid-argument', 'presence cannot set user: the server fills it in from your token')
  if (update.status !== undefined && !PRESENCE_STATUSES.includes(update.status)) {
    throw new HuddleError('invalid-argument', `presence status must be one of ${PRESENCE_STATUSES.join(', ')}, not ${JSON.stringify(update.status)}`)
  }
  for (const field of STRING_FIELDS) {
    const value = update[field]
    if (value !== undefined && value !== null && typeof value !== 'string')
      throw new HuddleError('invalid-argument', `presence ${field} must be a string (or null to clear it)`)
  }
  if (update.typing !== undefined && update.typing !== null && typeof update.typing !== 'boolean')
    throw new HuddleError('invalid-argument', 'presence typing must be true or false')
}
