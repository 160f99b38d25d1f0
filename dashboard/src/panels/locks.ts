// Locks: every resource with its holders (actor, mode, fencing token, held for) and its queue in
// order with waiting times. Admins can force-release a resource, after a confirmation.
import type { LockHolder, LockWaiter } from '../../../shared/coordination.js'
import { roleAtLeast } from '../../../shared/roles.js'
import { failureText, restApi } from '../api.js'
import type { Me } from '../auth.js'
import { confirmDialog } from '../dialog.js'
import { h, type Item, keyedList, setChildren, setText } from '../dom.js'
import type { LockView, WorkspaceModel } from '../model.js'
import { duration, everySecond, now, stamp, until } from '../time.js'
import { toast } from '../toast.js'
import { actorLabel, empty } from '../ui.js'

export class LocksPanel {
  readonly el: HTMLElement
  private readonly list: ReturnType<typeof keyedList<LockView>>
  private readonly none = empty('No locks are held or waited for. Agents take them with `huddle lock` or the client library.')
  held = 0
  /** every resource of each held claim: a grant covers all of a claim's resources at once */
  private claimResources = new Map<string, string[]>()

  constructor(
    private readonly model: WorkspaceModel,
    private readonly me: Me,
    private readonly onCount: () => void,
  ) {
    const container = h('div', { class: 'lock-list' })
    this.list = keyedList(container, (_value, resource) => this.card(resource))
    this.el = h(
      'section',
      { class: 'panel', id: 'panel-locks', 'aria-labelledby': 'locks-title' },
      h('h2', { id: 'locks-title', class: 'panel-title' }, 'Locks'),
      container,
      this.none,
    )
    model.onDocChange(() => this.render())
    everySecond(() => {
      if (!this.el.hidden) this.render()
    })
  }

  render(): void {
    const locks = this.model
      .lockList()
      .filter((lock) => lock.holders.length > 0 || lock.queue.length > 0)
      .map((lock): [string, LockView] => [lock.resource, lock])
    this.claimResources = new Map()
    for (const [resource, lock] of locks) {
      for (const holder of lock.holders ?? []) this.claimResources.set(holder.claim, [...(this.claimResources.get(holder.claim) ?? []), resource])
    }
    this.list.render(locks)
    this.none.hidden = locks.length > 0
    const held = locks.filter(([, lock]) => lock.holders.length > 0).length
    if (held !== this.held) {
      this.held = held
      this.onCount()
    }
  }

  private who(entry: LockHolder | LockWaiter): HTMLElement {
    const session = this.model.sessions.get(entry.session)
    return actorLabel(entry.actor, session?.name ?? this.model.nameOf(entry.actor), session?.kind ?? this.model.kindOf(entry.actor))
  }

  private holderRow(resource: string): Item<LockHolder> {
    const who = h('td', { 'data-label': 'Holder' })
    const also = h('span', { class: 'muted also' })
    const mode = h('td', { 'data-label': 'Mode' })
    const token = h('span', { class: 'token', title: 'fencing token: the protected resource rejects writes carrying a lower one' })
    const heldFor = h('td', { 'data-label': 'Held for' })
    const expires = h('td', { 'data-label': 'Expires' })
    const el = h('tr', { class: 'holder' }, who, mode, h('td', { 'data-label': 'Token' }, token), heldFor, expires)
    return {
      el,
      update: (holder) => {
        const t = now()
        if (el.dataset.actor !== holder.actor) {
          el.dataset.actor = holder.actor
          setChildren(who, this.who(holder), also)
          setChildren(mode, h('span', { class: `badge badge-${holder.mode}` }, holder.mode))
        }
        const others = (this.claimResources.get(holder.claim) ?? []).filter((r) => r !== resource)
        setText(also, others.length ? ` · together with ${others.join(', ')}` : '')
        setText(token, `#${holder.token}`)
        setText(heldFor, duration(t - holder.grantedAt))
        heldFor.title = `granted ${stamp(holder.grantedAt)}`
        setText(expires, holder.expiresAt ? until(holder.expiresAt, t) : 'while connected')
      },
    }
  }

  private waiterRow(): Item<LockWaiter> {
    const who = h('span')
    const mode = h('span')
    const waiting = h('span', { class: 'muted' })
    const el = h('li', { class: 'waiter' }, who, ' ', mode, ' ', waiting)
    return {
      el,
      update: (waiter) => {
        if (el.dataset.actor !== waiter.actor) {
          el.dataset.actor = waiter.actor
          setChildren(who, this.who(waiter))
          setChildren(mode, h('span', { class: `badge badge-${waiter.mode}` }, waiter.mode))
        }
        setText(waiting, `waiting ${duration(now() - waiter.queuedAt)}`)
        waiting.title = `queued ${stamp(waiter.queuedAt)}`
      },
    }
  }

  private card(resource: string): Item<LockView> {
    const summary = h('span', { class: 'lock-summary' })
    const holders = h('tbody')
    const nobody = h('p', { class: 'muted' }, 'Nobody holds it right now.')
    const queue = h('ol', { class: 'queue' })
    const holderList = keyedList(holders, () => this.holderRow(resource))
    const waiterList = keyedList(queue, () => this.waiterRow())
    const queueBlock = h('div', { class: 'queue-block' }, h('h4', null, 'Waiting, in order'), queue)
    const admin = roleAtLeast(this.me.role, 'admin')
    const release = admin
      ? h('button', { class: 'btn btn-danger btn-small', type: 'button', onclick: () => void this.forceRelease(resource) }, 'Force release…')
      : null
    const table = h(
      'table',
      { class: 'table holders' },
      h(
        'thead',
        null,
        h('tr', null, h('th', null, 'Holder'), h('th', null, 'Mode'), h('th', null, 'Fencing token'), h('th', null, 'Held for'), h('th', null, 'Expires')),
      ),
      holders,
    )
    const el = h(
      'article',
      { class: 'card lock', 'data-resource': resource },
      h('header', { class: 'card-head' }, h('h3', null, h('code', null, resource)), summary, h('span', { class: 'spacer' }), release),
      table,
      nobody,
      queueBlock,
    )
    return {
      el,
      update: (lock: LockView) => {
        const held = lock.holders
        const waiting = lock.queue
        setText(
          summary,
          held.length
            ? `${held[0]!.mode === 'shared' ? 'shared by' : 'held by'} ${held.length} · ${waiting.length} waiting`
            : `free · ${waiting.length} waiting`,
        )
        holderList.render(held.map((holder) => [holder.claim, holder]))
        waiterList.render(waiting.map((waiter) => [waiter.claim, waiter]))
        table.hidden = held.length === 0
        nobody.hidden = held.length > 0
        queueBlock.hidden = waiting.length === 0
        if (release) release.hidden = held.length === 0
      },
    }
  }

  private async forceRelease(resource: string): Promise<void> {
    const lock = this.model.locks.get(resource)
    const holders = (lock?.holders ?? []).map((holder) => this.model.nameOf(holder.actor)).join(', ') || 'nobody'
    const answer = await confirmDialog({
      title: `Force-release ${resource}?`,
      body: `This takes the lock away from ${holders}: their claim ends as "revoked" and they should stop using ${resource}. Waiters are then served in order.`,
      confirmLabel: 'Force release',
      danger: true,
      input: { label: 'Reason (optional, shown to them)', placeholder: 'e.g. the job is stuck', maxLength: 1000 },
    })
    if (!answer.ok) return
    try {
      await restApi(this.me, this.model.workspace).forceRelease(resource, answer.text || undefined)
      toast(`Released ${resource}.`, { tone: 'ok' })
    } catch (error) {
      toast(`Could not release ${resource}: ${failureText(error)}`, { tone: 'bad' })
    }
  }
}
