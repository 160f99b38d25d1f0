// Shared documents: the workspace's content documents and a collaborative editor. The list joins
// what the server has stored (GET /api/workspaces/<ws>/documents, read when the panel is shown)
// with a live registry the dashboard keeps in the content document `<workspace>/.huddle/documents`
// (Y.Map `documents`: path → {createdBy, createdAt}, written by editors when they open a
// document), so documents created meanwhile appear at once; anyone can open a document by path.
import type * as Y from 'yjs'
import type { LockHolder } from '../../../shared/coordination.js'
import { guardResource } from '../../../shared/guard.js'
import { parseRoom } from '../../../shared/names.js'
import { roleAtLeast } from '../../../shared/roles.js'
import type { Me } from '../auth.js'
import { DocumentConnection, stateLabel, type ConnectionState } from '../connection.js'
import { h, setChildren, setText } from '../dom.js'
import { DocumentSession, type Peer } from '../editor.js'
import type { WorkspaceModel } from '../model.js'
import type { SelfPresence } from '../self-presence.js'
import { ago, now, stamp } from '../time.js'
import { avatar, empty } from '../ui.js'
import { DocumentHistory } from '../../../client-lib/history.js'
import { restApi } from '../api.js'
import { HistoryPanel } from './history.js'

export const REGISTRY_PATH = '.huddle/documents'

export interface RegistryEntry {
  createdBy: string
  createdAt: number
}

/** A document path as people type it: slashes trimmed; null with a message when it is not valid. */
export function checkPath(workspace: string, raw: string): { path: string } | { error: string } {
  const path = raw.trim().replace(/^\/+|\/+$/g, '')
  if (!path) return { error: 'Type a document path, e.g. notes or plans/q3.' }
  if (path === REGISTRY_PATH || path.startsWith('.huddle/')) return { error: '.huddle/ is reserved for the dashboard.' }
  const parsed = parseRoom(`${workspace}/${path}`)
  if (typeof parsed === 'string') return { error: parsed }
  return { path }
}

export class DocumentsPanel {
  readonly el: HTMLElement
  private registry: DocumentConnection | null = null
  private stored: string[] = []
  private entries: Y.Map<RegistryEntry> | null = null
  private session: DocumentSession | null = null
  private history: HistoryPanel | null = null
  /** who last changed each stored document, from the server's attribution */
  private lastEdits = new Map<string, { actor: string; name?: string; at: number }>()
  private readonly list = h('ul', { class: 'doc-list' })
  private readonly none = empty('No documents yet.')
  private readonly pathInput = h('input', {
    class: 'input',
    type: 'text',
    name: 'path',
    placeholder: 'e.g. notes or plans/q3',
    'aria-label': 'Document path',
    autocomplete: 'off',
    spellcheck: 'false',
  })
  private readonly formError = h('p', { class: 'form-error', role: 'alert' })
  private readonly editorHost = h('div', { class: 'editor-host' })
  private readonly editorTitle = h('h3', { class: 'editor-title' })
  private readonly editorState = h('span', { class: 'conn conn-small' })
  private readonly editorPeers = h('span', { class: 'editor-peers' })
  private readonly typing = h('p', { class: 'typing', 'aria-live': 'polite' })
  private readonly editorNote = h('p', { class: 'editor-note' })
  private readonly editorPane: HTMLElement
  private readonly canCreate: boolean
  /** the lock note shown for the open document ('' when it is not guarded by someone else) */
  private guardNote = ''

  constructor(
    private readonly model: WorkspaceModel,
    private readonly me: Me,
    private readonly presence: SelfPresence,
    private readonly onOpen: (path: string | null) => void,
  ) {
    this.canCreate = roleAtLeast(me.role, 'editor')
    const form = h(
      'form',
      { class: 'open-form', novalidate: true },
      h(
        'label',
        { class: 'field' },
        h('span', null, this.canCreate ? 'Open or create a document' : 'Open a document'),
        h('div', { class: 'row' }, this.pathInput, h('button', { class: 'btn btn-primary', type: 'submit' }, 'Open')),
      ),
      this.formError,
    )
    form.addEventListener('submit', (event) => {
      event.preventDefault()
      const checked = checkPath(this.model.workspace, this.pathInput.value)
      if ('error' in checked) {
        setText(this.formError, checked.error)
        return
      }
      setText(this.formError, '')
      this.pathInput.value = ''
      this.open(checked.path)
    })
    this.editorPane = h(
      'div',
      { class: 'card editor-pane' },
      h('header', { class: 'card-head' }, this.editorTitle, this.editorState, h('span', { class: 'spacer' }), this.editorPeers),
      this.editorNote,
      this.editorHost,
      this.typing,
    )
    this.editorPane.hidden = true
    this.el = h(
      'section',
      { class: 'panel', id: 'panel-documents', 'aria-labelledby': 'documents-title' },
      h('h2', { id: 'documents-title', class: 'panel-title' }, 'Documents'),
      h(
        'div',
        { class: 'docs-layout' },
        h('div', { class: 'card doc-index' }, form, h('h3', null, 'In this workspace'), this.list, this.none),
        this.editorPane,
      ),
    )
    model.onPresenceChange(() => this.renderList())
    model.onDocChange(() => {
      this.showGuard()
      this.renderList()
    })
  }

  /** Holders of the lock guarding `path` other than this dashboard's session (admins write anyway). */
  private guardHolders(path: string): LockHolder[] {
    const holders = this.model.locks.get(guardResource(path))?.holders ?? []
    return holders.filter((holder) => holder.session !== this.model.session)
  }

  private showGuard(): void {
    const session = this.session
    if (!session) return
    const holders = this.me.role === 'admin' ? [] : this.guardHolders(session.path)
    session.setLocked(holders.length > 0)
    if (!session.canEdit) return
    const since = Math.min(...holders.map((holder) => holder.grantedAt))
    const note =
      holders.length === 0
        ? ''
        : `Locked by ${holders.map((holder) => this.model.nameOf(holder.actor)).join(', ')} since ${stamp(since)}: read-only until the lock ${guardResource(session.path)} is released.`
    if (note === this.guardNote) return
    this.guardNote = note
    this.editorNote.hidden = note === ''
    setText(this.editorNote, note)
  }

  /** Connects the registry the first time the panel is shown; reads the stored list each time. */
  activate(): void {
    void this.readStored()
    if (this.registry) return
    this.registry = new DocumentConnection({ room: `${this.model.workspace}/${REGISTRY_PATH}`, token: this.me.token, session: this.model.session })
    this.entries = this.registry.doc.getMap('documents')
    this.entries.observe(() => this.renderList())
    this.registry.provider.on('sync', (synced) => {
      if (synced && this.session) this.register(this.session.path)
      this.renderList()
    })
    this.renderList()
  }

  private async readStored(): Promise<void> {
    try {
      const api = restApi(this.me, this.model.workspace)
      const documents = await api.documents()
      this.stored = documents.map((document) => document.path)
      this.renderList()
      if (this.history && this.stored.includes(this.history.path)) void this.history.refresh()
      const edits = await new DocumentHistory(api).lastEdits()
      this.lastEdits = new Map(edits.flatMap((document) => (document.lastEdit ? [[document.path, document.lastEdit] as const] : [])))
      this.renderList()
    } catch {
      // The live registry still lists what is opened from dashboards; the next visit retries.
    }
  }

  get openPath(): string | null {
    return this.session?.path ?? null
  }

  open(path: string | null): void {
    if (path === (this.session?.path ?? null)) return
    this.session?.destroy()
    this.session = null
    this.history?.el.remove()
    this.history = null
    setChildren(this.editorHost)
    this.editorPane.hidden = path === null
    if (path !== null) {
      this.activate()
      const session = new DocumentSession(this.model.workspace, path, this.me, this.model.session, this.presence, this.editorHost)
      this.session = session
      setText(this.editorTitle, path)
      this.editorPane.dataset.path = path
      setText(this.editorNote, session.canEdit ? '' : `Read-only: your role is ${this.me.role}.`)
      this.editorNote.hidden = session.canEdit
      session.connection.onState((state) => this.showState(state))
      session.onPeers((peers) => this.showPeers(peers))
      this.guardNote = ''
      this.showGuard()
      // A document with nothing stored has no history to ask for yet (the panel says so).
      this.history = new HistoryPanel(this.model.workspace, path, this.me, this.stored.includes(path))
      this.editorPane.append(this.history.el)
      this.register(path)
    }
    this.presence.setViewing(path === null ? 'documents' : `document:${path}`)
    this.renderList()
    this.onOpen(path)
  }

  private register(path: string): void {
    if (!this.canCreate || !this.entries || !this.registry?.synced || this.entries.has(path)) return
    this.entries.set(path, { createdBy: this.me.actor, createdAt: now() })
  }

  private showState(state: ConnectionState): void {
    const label = stateLabel(state)
    this.editorState.className = `conn conn-small conn-${label.tone}`
    setText(this.editorState, label.text)
    if (state.kind === 'closed') {
      this.editorNote.hidden = false
      setText(this.editorNote, state.message)
    }
  }

  private showPeers(peers: Peer[]): void {
    setChildren(
      this.editorPeers,
      peers.map((peer) => h('span', { class: 'peer', title: `${peer.name}${peer.typing ? ' (typing)' : ''}` }, avatar(peer.name, peer.kind, peer.color))),
    )
    const typing = peers.filter((peer) => peer.typing).map((peer) => peer.name)
    setText(
      this.typing,
      typing.length === 0
        ? ''
        : typing.length === 1
          ? `${typing[0]} is typing…`
          : `${typing.slice(0, -1).join(', ')} and ${typing[typing.length - 1]} are typing…`,
    )
  }

  private renderList(): void {
    if (!this.entries) return
    const viewers = new Map<string, Array<{ name: string; kind: string; color: unknown }>>()
    for (const { state } of this.model.presenceStates()) {
      const viewing = typeof state.viewing === 'string' && state.viewing.startsWith('document:') ? state.viewing.slice(9) : null
      if (!viewing || !state.user?.id) continue
      const list = viewers.get(viewing) ?? []
      if (!list.some((v) => v.name === (state.user!.name ?? state.user!.id)))
        list.push({ name: state.user.name ?? state.user.id, kind: state.user.kind ?? 'human', color: state.user.color })
      viewers.set(viewing, list)
    }
    const paths = new Set<string>([...this.stored, ...this.entries.keys(), ...viewers.keys()])
    if (this.session) paths.add(this.session.path)
    const sorted = [...paths].filter((path) => !path.startsWith('.huddle/')).sort()
    setChildren(
      this.list,
      sorted.map((path) => {
        const entry = this.entries!.get(path)
        const edit = this.lastEdits.get(path)
        const here = viewers.get(path) ?? []
        const guard = this.model.locks.get(guardResource(path))?.holders ?? []
        return h(
          'li',
          { class: `doc-item${path === this.session?.path ? ' current' : ''}` },
          h(
            'button',
            {
              class: 'doc-link',
              type: 'button',
              'data-path': path,
              onclick: () => this.open(path),
              'aria-current': path === this.session?.path ? 'page' : null,
            },
            h('span', { class: 'doc-path' }, path),
            edit
              ? h(
                  'span',
                  { class: 'doc-meta muted', title: `last changed ${stamp(edit.at)}`, 'data-last-editor': edit.actor },
                  `edited by ${edit.name ?? edit.actor}, ${ago(edit.at)}`,
                )
              : h(
                  'span',
                  { class: 'doc-meta muted', title: entry ? stamp(entry.createdAt) : '' },
                  entry ? `opened by ${this.model.nameOf(entry.createdBy)}, ${ago(entry.createdAt)}` : 'stored',
                ),
          ),
          guard.length
            ? h(
                'span',
                { class: 'doc-locked', title: `locked (${guardResource(path)}) since ${stamp(Math.min(...guard.map((holder) => holder.grantedAt)))}` },
                `🔒 ${guard.map((holder) => this.model.nameOf(holder.actor)).join(', ')}`,
              )
            : null,
          here.length
            ? h(
                'span',
                { class: 'doc-here', title: here.map((v) => v.name).join(', ') },
                here.slice(0, 4).map((v) => avatar(v.name, v.kind, v.color)),
              )
            : null,
        )
      }),
    )
    this.none.hidden = sorted.length > 0
  }

  destroy(): void {
    this.history?.el.remove()
    this.session?.destroy()
    this.registry?.destroy()
  }
}
