// Inbox: what waits for the signed-in person — approvals they may vote on, their claims queued for
// a lock, their own requests still pending — from the same rule as `huddle inbox`. Items appear
// unread until the inbox is opened; the count goes to the tab title, and a new vote request shows
// a browser notification when the person has allowed them.
import { type InboxItem, inboxItems, type InboxKind } from '../../../client-lib/inbox.js'
import type { Me } from '../auth.js'
import { h, keyedList, setChildren, setText } from '../dom.js'
import type { WorkspaceModel } from '../model.js'
import { ago, everySecond, stamp } from '../time.js'
import { empty } from '../ui.js'

const LABELS: Record<InboxKind, string> = { vote: 'Your vote', waiting: 'Waiting for a lock', requested: 'Your request' }
/** Unread and notified keys remembered per person and workspace, at most this many. */
const REMEMBERED = 500

export class InboxPanel {
  readonly el: HTMLElement
  /** items needing the person (votes, queued claims) not seen in the inbox yet */
  unread = 0
  private readonly list: ReturnType<typeof keyedList<InboxItem>>
  private readonly none = empty('Nothing waits for you: no approvals to decide, no claims in a queue.')
  private readonly notifyButton = h('button', { class: 'btn btn-small', type: 'button', id: 'inbox-notify' }, 'Notify me')
  private readonly seen: Set<string>
  /** keys present at load: no notification for what was already there */
  private known: Set<string> | null = null
  private items: InboxItem[] = []

  constructor(
    private readonly model: WorkspaceModel,
    private readonly me: Me,
    private readonly onCount: () => void,
    private readonly open: (item: InboxItem) => void,
  ) {
    const container = h('div', { class: 'inbox-list' })
    this.list = keyedList(container, () => this.row())
    this.seen = new Set(readKeys(this.storageKey))
    this.notifyButton.addEventListener('click', () => void this.askForNotifications())
    this.el = h(
      'section',
      { class: 'panel', id: 'panel-inbox', 'aria-labelledby': 'inbox-title' },
      h('header', { class: 'card-head' }, h('h2', { id: 'inbox-title', class: 'panel-title' }, 'Inbox'), h('span', { class: 'spacer' }), this.notifyButton),
      container,
      this.none,
    )
    this.showNotifyButton()
    model.onDocChange(() => this.render())
    everySecond(() => {
      if (!this.el.hidden) this.list.render(this.items.map((item) => [item.key, item]))
    })
  }

  private get storageKey(): string {
    return `huddle.inbox.seen.${this.model.workspace}.${this.me.actor}`
  }

  render(): void {
    this.items = inboxItems(this.me, this.model.approvalList(), this.model.lockList())
    this.list.render(this.items.map((item) => [item.key, item]))
    this.none.hidden = this.items.length > 0
    if (!this.el.hidden) this.markRead()
    this.notifyNew()
    const unread = this.items.filter((item) => item.kind !== 'requested' && !this.seen.has(item.key)).length
    if (unread !== this.unread) {
      this.unread = unread
      this.onCount()
    }
  }

  /** The person looked at the inbox: everything in it is read. */
  markRead(): void {
    let changed = false
    for (const item of this.items) {
      if (this.seen.has(item.key)) continue
      this.seen.add(item.key)
      changed = true
    }
    if (!changed) return
    writeKeys(this.storageKey, [...this.seen].slice(-REMEMBERED))
    this.unread = 0
    this.onCount()
  }

  private notifyNew(): void {
    if (!this.model.connection.synced) return
    if (!this.known) {
      this.known = new Set(this.items.map((item) => item.key))
      return
    }
    for (const item of this.items) {
      if (this.known.has(item.key)) continue
      this.known.add(item.key)
      if (item.kind !== 'vote' || !notificationsAllowed()) continue
      const notification = new Notification(`Approval requested: ${item.title}`, { body: item.detail, tag: item.key })
      notification.onclick = () => {
        focus()
        this.open(item)
        notification.close()
      }
    }
  }

  private async askForNotifications(): Promise<void> {
    if (typeof Notification === 'undefined') return
    await Notification.requestPermission()
    this.showNotifyButton()
  }

  private showNotifyButton(): void {
    const permission = typeof Notification === 'undefined' ? 'denied' : Notification.permission
    this.notifyButton.hidden = permission !== 'default'
  }

  private row() {
    const label = h('span', { class: 'badge inbox-kind' })
    const title = h('strong', { class: 'inbox-title' })
    const detail = h('span', { class: 'muted inbox-detail' })
    const since = h('span', { class: 'muted inbox-since' })
    let current: InboxItem | null = null
    const button = h('button', { class: 'btn btn-small', type: 'button', onclick: () => current && this.open(current) })
    const el = h(
      'article',
      { class: 'card inbox-item' },
      h('header', { class: 'card-head' }, label, title, h('span', { class: 'spacer' }), since, button),
      detail,
    )
    return {
      el,
      update: (item: InboxItem) => {
        current = item
        el.dataset.kind = item.kind
        el.dataset.key = item.key
        el.classList.toggle('unread', item.kind !== 'requested' && !this.seen.has(item.key))
        setText(label, LABELS[item.kind])
        setText(title, item.title)
        setChildren(detail, item.detail)
        setText(since, ago(item.since))
        since.title = stamp(item.since)
        setText(button, item.kind === 'vote' ? 'Decide' : item.kind === 'waiting' ? 'See the lock' : 'See it')
      },
    }
  }
}

function notificationsAllowed(): boolean {
  return typeof Notification !== 'undefined' && Notification.permission === 'granted'
}

function readKeys(key: string): string[] {
  try {
    const value = JSON.parse(localStorage.getItem(key) ?? '[]') as unknown
    return Array.isArray(value) ? value.filter((entry): entry is string => typeof entry === 'string') : []
  } catch {
    return []
  }
}

function writeKeys(key: string, keys: string[]): void {
  try {
    localStorage.setItem(key, JSON.stringify(keys))
  } catch {
    // storage full or disabled: items only stay read for this page
  }
}

/** Scrolls to the approval card with `key` once it is on the page, and marks it for a moment. */
export function revealApproval(key: string): void {
  const deadline = Date.now() + 5000
  const look = () => {
    const card = [...document.querySelectorAll<HTMLElement>('#panel-approvals .approval')].find((el) => el.dataset.key === key)
    if (card) {
      card.scrollIntoView({ block: 'center' })
      card.classList.add('revealed')
      setTimeout(() => card.classList.remove('revealed'), 3000)
    } else if (Date.now() < deadline) setTimeout(look, 100)
  }
  look()
}
