// One open content document (`<workspace>/<path>`): its own connection, and a CodeMirror 6 editor
// bound to the Y.Text `body` with y-codemirror.next, which shows other people's cursors and
// selections in their colours. Viewers get a read-only editor (the server refuses their writes).
import { Compartment, EditorState, type Extension } from '@codemirror/state'
import {
  drawSelection,
  dropCursor,
  EditorView,
  highlightActiveLine,
  highlightActiveLineGutter,
  highlightSpecialChars,
  keymap,
  lineNumbers,
  placeholder,
} from '@codemirror/view'
import { defaultKeymap, indentWithTab } from '@codemirror/commands'
import { highlightSelectionMatches, searchKeymap } from '@codemirror/search'
import { yCollab, yUndoManagerKeymap } from 'y-codemirror.next'
import * as Y from 'yjs'
import { roleAtLeast } from '../../shared/roles.js'
import type { Me } from './auth.js'
import { DocumentConnection } from './connection.js'
import { batched } from './dom.js'
import type { PresenceState, SelfPresence } from './self-presence.js'

/** The Y.Text of a content document that the editor binds (same name as the README's tour). */
export const TEXT_NAME = 'body'
/** `typing` stays on this long after the last keystroke. */
const TYPING_MS = 2000

export interface Peer {
  clientID: number
  name: string
  kind: string
  color: string
  typing: boolean
}

export class DocumentSession {
  readonly connection: DocumentConnection
  readonly text: Y.Text
  readonly view: EditorView
  readonly canEdit: boolean
  private readonly detachPresence: () => void
  private typingTimer: ReturnType<typeof setTimeout> | null = null
  private readonly peerListeners = new Set<(peers: Peer[]) => void>()
  /** read-only for viewers always, for editors while someone else holds the document's guard */
  private readonly editable = new Compartment()
  private locked = false

  constructor(
    readonly workspace: string,
    readonly path: string,
    me: Me,
    session: string,
    presence: SelfPresence,
    parent: HTMLElement,
  ) {
    this.connection = new DocumentConnection({ room: `${workspace}/${path}`, token: me.token, session })
    this.text = this.connection.doc.getText(TEXT_NAME)
    this.canEdit = roleAtLeast(me.role, 'editor')
    const awareness = this.connection.provider.awareness
    this.detachPresence = presence.attach(awareness)
    const extensions: Extension[] = [
      lineNumbers(),
      highlightActiveLineGutter(),
      highlightSpecialChars(),
      drawSelection(),
      dropCursor(),
      highlightActiveLine(),
      EditorView.lineWrapping,
      EditorView.contentAttributes.of({ 'aria-label': `Document ${path}` }),
      placeholder(this.canEdit ? 'Start typing; everyone here sees it live.' : 'This document is empty.'),
      highlightSelectionMatches(),
      // Undo goes through Yjs (one's own edits only), so its keys come before the defaults.
      keymap.of([...yUndoManagerKeymap, ...defaultKeymap, ...searchKeymap, indentWithTab]),
      yCollab(this.text, awareness, { undoManager: new Y.UndoManager(this.text) }),
      this.editable.of(EditorState.readOnly.of(!this.canEdit)),
      EditorView.updateListener.of((update) => {
        if (update.docChanged && update.transactions.some((tr) => tr.isUserEvent('input') || tr.isUserEvent('delete') || tr.isUserEvent('move'))) this.typed()
      }),
    ]
    this.view = new EditorView({ parent, state: EditorState.create({ doc: this.text.toString(), extensions }) })
    const notify = batched(() => {
      const peers = this.peers()
      for (const listener of this.peerListeners) listener(peers)
    })
    awareness.on('change', notify)
  }

  private typed(): void {
    const awareness = this.connection.provider.awareness
    if ((awareness.getLocalState() as PresenceState | null)?.typing !== true) awareness.setLocalStateField('typing', true)
    if (this.typingTimer) clearTimeout(this.typingTimer)
    this.typingTimer = setTimeout(() => {
      this.typingTimer = null
      awareness.setLocalStateField('typing', false)
    }, TYPING_MS)
  }

  /** While someone else holds the lock `doc:<path>`, the server refuses our writes: do not offer them. */
  setLocked(locked: boolean): void {
    if (locked === this.locked) return
    this.locked = locked
    this.view.dispatch({ effects: this.editable.reconfigure(EditorState.readOnly.of(!this.canEdit || locked)) })
  }

  /** Everyone else with this document open. */
  peers(): Peer[] {
    const awareness = this.connection.provider.awareness
    const peers: Peer[] = []
    for (const [clientID, raw] of awareness.getStates()) {
      if (clientID === awareness.clientID) continue
      const state = raw as PresenceState
      if (!state.user?.id) continue
      peers.push({
        clientID,
        name: state.user.name ?? state.user.id,
        kind: state.user.kind ?? 'human',
        color: state.user.color ?? '',
        typing: state.typing === true,
      })
    }
    return peers
  }

  onPeers(listener: (peers: Peer[]) => void): void {
    this.peerListeners.add(listener)
    listener(this.peers())
  }

  destroy(): void {
    if (this.typingTimer) clearTimeout(this.typingTimer)
    this.peerListeners.clear()
    this.detachPresence()
    this.view.destroy()
    this.connection.destroy()
  }
}
