// Presence: everyone in the workspace, humans and agents apart, with status, what they are
// viewing or doing, and when they were last seen. Sources: the coordination document's awareness
// states (live, published by each client) and its `sessions` map (kept by the server).
import type { Me } from '../auth.js'
import { h, keyedList, setChildren, setText } from '../dom.js'
import type { WorkspaceModel } from '../model.js'
import type { Status } from '../self-presence.js'
import { ago, duration, everySecond, now, stamp } from '../time.js'
import { actorLabel, avatar, empty, kindBadge, roleBadge } from '../ui.js'

export type PersonStatus = Status | 'online' | 'offline'

export interface Person {
  actor: string
  name: string
  kind: string | null
  role: string | null
  color: unknown
  status: PersonStatus
  viewing: string | null
  activity: string | null
  typing: boolean
  /** when they were last seen active (server clock) */
  lastSeen: number
  /** since when they are connected (server clock) */
  connectedSince: number | null
  sessions: number
  me: boolean
}

const RANK: Record<PersonStatus, number> = { active: 0, online: 1, idle: 2, away: 3, offline: 4 }

/** Panel ids as people read them; a Map, as `viewing` is whatever another client published. */
const PANEL_NAMES: ReadonlyMap<string, string> = new Map([
  ['presence', 'Presence'],
  ['locks', 'Locks'],
  ['approvals', 'Approvals'],
  ['activity', 'Activity'],
  ['documents', 'Documents'],
  ['links', 'Share links'],
])

/** A readable version of a `viewing` value (a panel id or `document:<path>`). */
export function viewingLabel(viewing: string): string {
  if (viewing.startsWith('document:')) return `document ${viewing.slice('document:'.length)}`
  return PANEL_NAMES.get(viewing) ?? viewing
}

export function people(model: WorkspaceModel, me: Me): Person[] {
  const byActor = new Map<string, Person>()
  const get = (actor: string): Person => {
    let person = byActor.get(actor)
    if (!person) {
      person = {
        actor,
        name: actor,
        kind: null,
        role: null,
        color: null,
        status: 'offline',
        viewing: null,
        activity: null,
        typing: false,
        lastSeen: 0,
        connectedSince: null,
        sessions: 0,
        me: actor === me.actor,
      }
      byActor.set(actor, person)
    }
    return person
  }
  for (const session of model.sessionList()) {
    const person = get(session.actor)
    person.name = session.name
    person.kind = session.kind
    person.role = session.role
    person.lastSeen = Math.max(person.lastSeen, session.lastSeenAt)
    if (session.online) {
      person.sessions++
      if (person.status === 'offline') person.status = 'online'
      person.connectedSince = Math.min(person.connectedSince ?? Infinity, session.connectedAt)
    }
  }
  for (const { clientID, state } of model.presenceStates()) {
    const user = state.user
    if (!user?.id) continue
    const person = get(user.id)
    const mine = clientID === model.awareness.clientID
    if (user.name) person.name = user.name
    if (user.kind) person.kind ??= user.kind
    if (user.color) person.color = user.color
    if (mine) person.role ??= me.role
    const status: PersonStatus = state.status === 'active' || state.status === 'idle' || state.status === 'away' ? state.status : 'online'
    if (person.status === 'offline' || person.status === 'online' || RANK[status] < RANK[person.status]) {
      person.status = status
      person.viewing = typeof state.viewing === 'string' && state.viewing ? state.viewing : null
      person.activity = typeof state.activity === 'string' && state.activity ? state.activity : null
    }
    if (state.typing === true) person.typing = true
    if (person.sessions === 0) person.sessions = 1
    const activeAt = status === 'active' ? now() : typeof state.lastActiveAt === 'number' ? state.lastActiveAt : 0
    person.lastSeen = Math.max(person.lastSeen, activeAt)
  }
  return [...byActor.values()].sort((a, b) => Number(b.me) - Number(a.me) || RANK[a.status] - RANK[b.status] || a.name.localeCompare(b.name))
}

export function statusChip(status: PersonStatus): HTMLElement {
  const text = status === 'online' ? 'online' : status
  return h('span', { class: `status status-${status}` }, h('span', { class: 'dot', 'aria-hidden': 'true' }), text)
}

function describe(person: Person): string {
  const parts: string[] = []
  if (person.activity) parts.push(person.activity)
  if (person.viewing) parts.push(`${person.kind === 'agent' ? 'on' : 'viewing'} ${viewingLabel(person.viewing)}`)
  if (person.typing) parts.push('typing…')
  return parts.join(' · ')
}

function lastSeenText(person: Person): string {
  const t = now()
  if (person.status === 'offline') return person.lastSeen ? `last seen ${ago(person.lastSeen, t)}` : 'offline'
  if (person.status === 'active' || person.status === 'online') {
    return person.connectedSince ? `online for ${duration(t - person.connectedSince)}` : 'online'
  }
  return person.lastSeen ? `last active ${ago(person.lastSeen, t)}` : person.status
}

function row(): { el: HTMLElement; update(person: Person): void } {
  const avatarSlot = h('span', { class: 'row-avatar' })
  const name = h('span', { class: 'row-name' })
  const badges = h('span', { class: 'row-badges' })
  const doing = h('span', { class: 'row-doing' })
  const seen = h('span', { class: 'row-seen' })
  const el = h(
    'li',
    { class: 'person' },
    avatarSlot,
    h('div', { class: 'row-main' }, h('div', { class: 'row-line' }, name, badges), h('div', { class: 'row-line row-sub' }, doing, seen)),
  )
  let rendered = ''
  return {
    el,
    update(person) {
      setText(seen, lastSeenText(person))
      seen.title = person.lastSeen ? stamp(person.lastSeen) : ''
      const signature = JSON.stringify([person.name, person.kind, person.role, person.color, person.status, person.sessions, person.me, describe(person)])
      if (signature === rendered) return
      rendered = signature
      el.dataset.actor = person.actor
      el.dataset.status = person.status
      el.dataset.kind = person.kind ?? ''
      setChildren(avatarSlot, avatar(person.name, person.kind, person.color))
      setChildren(name, actorLabel(person.actor, person.name, person.kind), person.me ? h('span', { class: 'you' }, ' (you)') : null)
      setChildren(
        badges,
        statusChip(person.status),
        kindBadge(person.kind),
        roleBadge(person.role),
        person.sessions > 1 ? h('span', { class: 'badge', title: 'connections (tabs or processes)' }, `${person.sessions} sessions`) : null,
      )
      setText(doing, describe(person))
    },
  }
}

export class PresencePanel {
  readonly el: HTMLElement
  private readonly humans: ReturnType<typeof keyedList<Person>>
  private readonly agents: ReturnType<typeof keyedList<Person>>
  private readonly humansEmpty = empty('Nobody else is here yet.')
  private readonly agentsEmpty = empty('No agents are connected.')
  private readonly humansCount = h('span', { class: 'count' })
  private readonly agentsCount = h('span', { class: 'count' })
  count = 0

  constructor(
    private readonly model: WorkspaceModel,
    private readonly me: Me,
    private readonly onCount: () => void,
  ) {
    const humanList = h('ul', { class: 'people', 'data-group': 'humans' })
    const agentList = h('ul', { class: 'people', 'data-group': 'agents' })
    this.humans = keyedList(humanList, row)
    this.agents = keyedList(agentList, row)
    this.el = h(
      'section',
      { class: 'panel', id: 'panel-presence', 'aria-labelledby': 'presence-title' },
      h('h2', { id: 'presence-title', class: 'panel-title' }, 'Presence'),
      h(
        'div',
        { class: 'columns' },
        h('div', { class: 'card' }, h('h3', null, 'People ', this.humansCount), humanList, this.humansEmpty),
        h('div', { class: 'card' }, h('h3', null, 'Agents ', this.agentsCount), agentList, this.agentsEmpty),
      ),
    )
    const render = () => this.render()
    model.onDocChange(render)
    model.onPresenceChange(render)
    everySecond(() => {
      if (!this.el.hidden) this.render()
    })
  }

  render(): void {
    const all = people(this.model, this.me)
    const humans = all.filter((p) => p.kind !== 'agent')
    const agents = all.filter((p) => p.kind === 'agent')
    this.humans.render(humans.map((p) => [p.actor, p]))
    this.agents.render(agents.map((p) => [p.actor, p]))
    this.humansEmpty.hidden = humans.length > 1 || (humans.length === 1 && !humans[0]!.me)
    this.agentsEmpty.hidden = agents.length > 0
    const online = (list: Person[]) => list.filter((p) => p.status !== 'offline').length
    setText(this.humansCount, `${online(humans)} online`)
    setText(this.agentsCount, `${online(agents)} online`)
    const count = online(all)
    if (count !== this.count) {
      this.count = count
      this.onCount()
    }
  }
}
