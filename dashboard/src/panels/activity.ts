// Activity: the live feed of audit events kept in the coordination document's `activity` array
// (newest last there; shown newest first), filterable by kind and by actor.
import { h, setChildren, setText } from '../dom.js'
import type { ActivityEntry, WorkspaceModel } from '../model.js'
import { clock, duration, stamp } from '../time.js'
import { actorLabel, empty } from '../ui.js'

export const KINDS: Record<string, { label: string; types: readonly string[] }> = {
  locks: { label: 'Locks', types: ['claim', 'queue', 'grant', 'release', 'cancel', 'timeout', 'expire', 'revoke', 'invalid'] },
  approvals: { label: 'Approvals', types: ['request', 'vote', 'decision'] },
  sessions: { label: 'Sessions', types: ['join', 'leave', 'session-end'] },
  refused: { label: 'Refused writes', types: ['refused'] },
}

export function kindOf(type: string): string {
  for (const [kind, { types }] of Object.entries(KINDS)) if (types.includes(type)) return kind
  return 'other'
}

const str = (value: unknown): string => (typeof value === 'string' ? value : value === undefined || value === null ? '' : JSON.stringify(value))

/** One line describing an entry, for people. */
export function describeEntry(entry: ActivityEntry, titleOf: (key: string) => string | null, nameOf: (actor: string) => string): string {
  const d = entry.data ?? {}
  const resources = Array.isArray(d.resources) ? (d.resources as string[]).join(', ') : str(d.key)
  const mode = d.mode ? ` (${str(d.mode)})` : ''
  const reason = d.reason ? `: ${str(d.reason)}` : ''
  const by = Array.isArray(d.by) && d.by.length ? ` by ${(d.by as string[]).map(nameOf).join(', ')}` : ''
  const title = () => {
    const key = str(d.key)
    const t = (typeof d.title === 'string' && d.title) || titleOf(key)
    return t ? `“${t}”` : key
  }
  switch (entry.type) {
    case 'join':
      return `joined${d.kind ? ` (${str(d.kind)}, ${str(d.role)})` : ''}`
    case 'leave':
      return `left${typeof d.graceMs === 'number' && d.graceMs > 0 ? `; locks kept for ${duration(d.graceMs)} in case of a reconnect` : ''}`
    case 'session-end':
      return 'session ended'
    case 'claim':
      return `claimed ${resources}${mode}`
    case 'queue':
      return `waits for ${resources}${mode}`
    case 'grant':
      return `got ${resources}${mode}${d.token !== undefined ? ` · token #${str(d.token)}` : ''}`
    case 'release':
      return `released ${resources}`
    case 'cancel':
      return `stopped waiting for ${resources}`
    case 'timeout':
      return `gave up waiting for ${resources}`
    case 'expire':
      return `lost ${resources}: its time limit ran out`
    case 'revoke': {
      // the server's reason reads "revoked by <admin>[: <why>]"; the admin is already in `by`
      const why = str(d.reason).replace(/^revoked by [^:]*:?\s*/, '')
      return `lost ${resources}: force-released${by}${why ? `: ${why}` : ''}`
    }
    case 'invalid':
      return `sent an invalid claim${reason}`
    case 'request':
      return `asked for approval: ${title()}${d.action ? ` (${str(d.action)})` : ''}`
    case 'vote':
      return `${d.decision === 'reject' ? 'rejected' : 'approved'} ${title()}${reason}`
    case 'decision':
      return `${title()} was ${str(d.state)}${by}${reason}`
    case 'refused':
      return `write refused${reason}`
    default: {
      const text = JSON.stringify(d)
      return `${entry.type}${text && text !== '{}' ? ` ${text.length > 160 ? `${text.slice(0, 157)}…` : text}` : ''}`
    }
  }
}

export class ActivityPanel {
  readonly el: HTMLElement
  private readonly list = h('ol', { class: 'feed', 'aria-live': 'off' })
  private readonly none = empty('Nothing matches.')
  private readonly kind = h('select', { class: 'input', 'aria-label': 'Filter by kind' })
  private readonly actor = h('select', { class: 'input', 'aria-label': 'Filter by actor' })
  private readonly shown = h('span', { class: 'muted' })
  private signature = ''
  private newestSeen = 0

  constructor(private readonly model: WorkspaceModel) {
    setChildren(
      this.kind,
      h('option', { value: '' }, 'All kinds'),
      Object.entries(KINDS).map(([value, { label }]) => h('option', { value }, label)),
      h('option', { value: 'other' }, 'Other'),
    )
    setChildren(this.actor, h('option', { value: '' }, 'Everyone'))
    this.kind.addEventListener('change', () => this.render())
    this.actor.addEventListener('change', () => this.render())
    this.el = h(
      'section',
      { class: 'panel', id: 'panel-activity', 'aria-labelledby': 'activity-title' },
      h('h2', { id: 'activity-title', class: 'panel-title' }, 'Activity'),
      h(
        'div',
        { class: 'filters' },
        h('label', { class: 'field-inline' }, h('span', null, 'Kind'), this.kind),
        h('label', { class: 'field-inline' }, h('span', null, 'Actor'), this.actor),
        this.shown,
      ),
      this.list,
      this.none,
    )
    model.onDocChange(() => this.render())
  }

  render(): void {
    const entries = this.model.activityList()
    const kind = this.kind.value
    const actor = this.actor.value
    const last = entries.length ? entries[entries.length - 1]!.seq : 0
    const signature = `${last}|${entries.length}|${kind}|${actor}`
    if (signature === this.signature) return
    this.signature = signature
    this.updateActors(entries)
    const shown = entries.filter((entry) => (!kind || kindOf(entry.type) === kind) && (!actor || entry.actor === actor)).reverse()
    const titleOf = (key: string) => {
      const request = this.model.approval(key)?.get('request') as { title?: string } | undefined
      return request?.title ?? null
    }
    const nameOf = (id: string) => this.model.nameOf(id)
    const fresh = this.newestSeen
    setChildren(
      this.list,
      shown.map((entry) =>
        h(
          'li',
          { class: `event event-${kindOf(entry.type)}${fresh && entry.seq > fresh ? ' fresh' : ''}`, 'data-type': entry.type, 'data-seq': entry.seq },
          h('time', { class: 'event-time', datetime: new Date(entry.at).toISOString(), title: stamp(entry.at) }, clock(entry.at)),
          h('span', { class: `badge badge-event badge-${kindOf(entry.type)}` }, entry.type),
          h(
            'span',
            { class: 'event-text' },
            entry.actor && entry.type !== 'decision' ? [actorLabel(entry.actor, nameOf(entry.actor), this.model.kindOf(entry.actor)), ' '] : null,
            describeEntry(entry, titleOf, nameOf),
          ),
        ),
      ),
    )
    this.newestSeen = last
    this.none.hidden = shown.length > 0
    setText(this.shown, `${shown.length} of ${entries.length} recent events`)
  }

  private updateActors(entries: ActivityEntry[]): void {
    const actors = [...new Set(entries.map((entry) => entry.actor).filter((a): a is string => Boolean(a)))].sort()
    const current = [...this.actor.options].slice(1).map((option) => option.value)
    if (JSON.stringify(current) === JSON.stringify(actors)) return
    const selected = this.actor.value
    setChildren(
      this.actor,
      h('option', { value: '' }, 'Everyone'),
      actors.map((a) => h('option', { value: a }, this.model.nameOf(a) === a ? a : `${this.model.nameOf(a)} (${a})`)),
    )
    this.actor.value = actors.includes(selected) ? selected : ''
  }
}
