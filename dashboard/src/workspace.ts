// The workspace page (/w/<workspace>): a header with the connection state and who is signed in, a
// navigation between the panels, and the panels. `?panel=<id>&doc=<path>` keeps the place, so a
// reload or a shared address opens the same view.
import { roleAtLeast } from '../../shared/roles.js'
import { forgetToken, type Me, sessionFor } from './auth.js'
import { stateLabel, type ConnectionState } from './connection.js'
import { h, setChildren, setText } from './dom.js'
import { WorkspaceModel } from './model.js'
import { ActivityPanel } from './panels/activity.js'
import { ApprovalsPanel } from './panels/approvals.js'
import { DocumentsPanel } from './panels/documents.js'
import { InboxPanel, revealApproval } from './panels/inbox.js'
import { LinksPanel } from './panels/links.js'
import { LocksPanel } from './panels/locks.js'
import { PresencePanel } from './panels/presence.js'
import { SelfPresence } from './self-presence.js'
import { duration, stamp } from './time.js'
import { avatar, roleBadge } from './ui.js'
import { colorFor } from '../../shared/colors.js'

export type PanelId = 'inbox' | 'presence' | 'locks' | 'approvals' | 'activity' | 'documents' | 'links'

interface NavEntry {
  id: PanelId
  label: string
  el: HTMLElement
  button: HTMLButtonElement
  badge: HTMLElement
}

export function mountWorkspace(root: HTMLElement, workspace: string, me: Me): void {
  const session = sessionFor(me.actor)
  const model = new WorkspaceModel(workspace, me, session)
  const presence = new SelfPresence(me, session)
  presence.attach(model.awareness)
  const isAdmin = roleAtLeast(me.role, 'admin')

  const counts = () => updateCounts()
  const presencePanel = new PresencePanel(model, me, counts)
  const locksPanel = new LocksPanel(model, me, counts)
  const approvalsPanel = new ApprovalsPanel(model, me, counts, () => go('approvals', null, true))
  const activityPanel = new ActivityPanel(model)
  const inboxPanel = new InboxPanel(model, me, counts, (item) => {
    if (item.kind === 'waiting') return go('locks', null, true)
    go('approvals', null, true)
    revealApproval(item.key)
  })
  const documentsPanel = new DocumentsPanel(model, me, presence, (path) => {
    if (current === 'documents') setUrl('documents', path, true)
  })
  const linksPanel = isAdmin ? new LinksPanel(model, me) : null

  const nav = h('nav', { class: 'nav', 'aria-label': 'Workspace' })
  const main = h('main', { class: 'main', id: 'main' })
  const entries: NavEntry[] = []
  const addPanel = (id: PanelId, label: string, el: HTMLElement) => {
    const badge = h('span', { class: 'nav-badge' })
    const button = h(
      'button',
      { class: 'nav-item', type: 'button', 'data-panel': id, onclick: () => go(id, id === 'documents' ? documentsPanel.openPath : null, true) },
      h('span', null, label),
      badge,
    )
    nav.append(button)
    el.hidden = true
    main.append(el)
    entries.push({ id, label, el, button, badge })
  }
  addPanel('inbox', 'Inbox', inboxPanel.el)
  addPanel('presence', 'Presence', presencePanel.el)
  addPanel('locks', 'Locks', locksPanel.el)
  addPanel('approvals', 'Approvals', approvalsPanel.el)
  addPanel('activity', 'Activity', activityPanel.el)
  addPanel('documents', 'Documents', documentsPanel.el)
  if (linksPanel) addPanel('links', 'Share links', linksPanel.el)

  const connPill = h('span', { class: 'conn', role: 'status', 'aria-live': 'polite', id: 'connection' })
  const banner = h('div', { class: 'banner', role: 'alert', hidden: true })
  const signOut = h('button', { class: 'btn btn-small btn-quiet', type: 'button', onclick: () => signOutTo('/') }, 'Sign out')
  const meBox = h(
    'span',
    { class: 'me', title: `${me.actor} (${me.kind}, ${me.role}) · token valid until ${stamp(me.expiresAt)}` },
    avatar(me.name, me.kind, colorFor(me.actor)),
    h('span', { class: 'me-name' }, me.name),
    roleBadge(me.role),
  )
  const header = h(
    'header',
    { class: 'topbar' },
    h('a', { class: 'brand', href: '/' }, 'Huddle'),
    h('span', { class: 'ws-name', title: 'workspace' }, workspace),
    connPill,
    h('span', { class: 'spacer' }),
    meBox,
    signOut,
  )
  setChildren(root, h('div', { class: 'app' }, header, banner, h('div', { class: 'layout' }, nav, main)))

  // ---- connection state: always visible, with a readable reason when something is wrong ----
  model.connection.onState((state: ConnectionState) => {
    const label = stateLabel(state)
    connPill.className = `conn conn-${label.tone}`
    connPill.dataset.state = state.kind
    setChildren(connPill, h('span', { class: 'dot', 'aria-hidden': 'true' }), label.text)
    // what is on screen stops being live: say so by dimming it
    main.classList.toggle('stale', state.kind === 'closed' || state.kind === 'offline' || state.kind === 'reconnecting')
    showBanner(state)
  })
  function showBanner(state: ConnectionState): void {
    banner.className = 'banner'
    if (state.kind === 'closed') {
      banner.classList.add('banner-bad')
      setChildren(
        banner,
        h('span', { class: 'banner-text' }, state.message),
        state.signInAgain
          ? h('button', { class: 'btn btn-small btn-primary', type: 'button', onclick: () => signOutTo(null) }, 'Sign in again')
          : h('button', { class: 'btn btn-small', type: 'button', onclick: () => model.connection.retry() }, 'Try again'),
      )
      banner.hidden = false
    } else if (state.kind === 'offline') {
      banner.classList.add('banner-warn')
      setChildren(banner, h('span', { class: 'banner-text' }, 'You are offline. What you see may be out of date; it catches up when the network is back.'))
      banner.hidden = false
    } else if (state.kind === 'reconnecting') {
      banner.classList.add('banner-warn')
      setChildren(banner, h('span', { class: 'banner-text' }, `${state.why} Reconnecting…`))
      banner.hidden = false
    } else {
      banner.hidden = true
    }
  }
  // the token's own expiry: warn a little before the server closes the connection
  const warnAt = me.expiresAt - 5 * 60_000
  const warn = () => {
    const left = me.expiresAt - Date.now()
    if (left > 0 && model.connection.state.kind !== 'closed') {
      banner.className = 'banner banner-warn'
      setChildren(
        banner,
        h('span', { class: 'banner-text' }, `Your sign-in ends in ${duration(left)}.`),
        h('button', { class: 'btn btn-small', type: 'button', onclick: () => signOutTo(null) }, 'Sign in again'),
      )
      banner.hidden = false
    }
  }
  if (warnAt - Date.now() < 2 ** 31 - 1) setTimeout(warn, Math.max(0, warnAt - Date.now()))

  // ---- counts in the navigation and the title bar ----
  function updateCounts(): void {
    for (const entry of entries) {
      const n =
        entry.id === 'inbox'
          ? inboxPanel.unread
          : entry.id === 'presence'
            ? presencePanel.count
            : entry.id === 'locks'
              ? locksPanel.held
              : entry.id === 'approvals'
                ? approvalsPanel.pending
                : 0
      setText(entry.badge, n > 0 ? String(n) : '')
      entry.badge.hidden = n === 0
      entry.badge.classList.toggle('nav-badge-alert', entry.id === 'inbox' || (entry.id === 'approvals' && approvalsPanel.awaitingMe > 0))
    }
    // the title counts what waits for this person and is new to them (the inbox's unread items)
    const unread = inboxPanel.unread
    document.title = `${unread > 0 ? `(${unread}) ` : ''}${workspace} · Huddle`
  }

  // ---- navigation ----
  let current: PanelId = 'presence'
  function setUrl(panel: PanelId, doc: string | null, push: boolean): void {
    const params = new URLSearchParams()
    if (panel !== 'presence') params.set('panel', panel)
    if (panel === 'documents' && doc) params.set('doc', doc)
    const search = params.toString()
    const url = `${location.pathname}${search ? `?${search}` : ''}`
    if (url === location.pathname + location.search) return
    if (push) history.pushState(null, '', url)
    else history.replaceState(null, '', url)
  }
  function go(panel: PanelId, doc: string | null, push: boolean): void {
    if (!entries.some((entry) => entry.id === panel)) panel = 'presence'
    current = panel
    for (const entry of entries) {
      entry.el.hidden = entry.id !== panel
      entry.button.classList.toggle('active', entry.id === panel)
      if (entry.id === panel) entry.button.setAttribute('aria-current', 'page')
      else entry.button.removeAttribute('aria-current')
    }
    setUrl(panel, panel === 'documents' ? doc : null, push)
    if (panel === 'documents') {
      documentsPanel.activate()
      documentsPanel.open(doc)
    } else {
      presence.setViewing(panel)
    }
    if (panel === 'links') linksPanel?.activate()
    if (panel === 'presence') presencePanel.render()
    if (panel === 'locks') locksPanel.render()
    if (panel === 'approvals') approvalsPanel.render()
    if (panel === 'activity') activityPanel.render()
    if (panel === 'inbox') inboxPanel.render()
  }
  function fromUrl(): void {
    const params = new URLSearchParams(location.search)
    go((params.get('panel') as PanelId | null) ?? 'presence', params.get('doc'), false)
    // links from `huddle request`, `huddle inbox` and Slack point at one approval's card
    const approval = params.get('approval')
    if (approval) revealApproval(approval)
  }
  addEventListener('popstate', fromUrl)
  fromUrl()
  updateCounts()
  addEventListener('pagehide', () => {
    documentsPanel.destroy()
    model.destroy()
  })
  // a page restored from the back/forward cache has closed connections: start afresh
  addEventListener('pageshow', (event) => {
    if (event.persisted) location.reload()
  })
}

/** Forgets the token and opens `path`, or reloads the page (which then asks to sign in). */
function signOutTo(path: string | null): void {
  forgetToken()
  if (path === null) location.reload()
  else location.assign(path)
}
