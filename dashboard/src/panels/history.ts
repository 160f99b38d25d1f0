// The history of the open document, beside its editor: versions with who changed the document
// (humans and agents told apart), a diff of any version against now coloured by author, blame
// per line, and "restore this version" (editors, after a confirmation). Everything comes from the
// server's history API (/api/workspaces/<ws>/docs/<path>/...); the server stamps who wrote what.
import { colorFor } from '../../../shared/colors.js'
import type { BlameLine, DiffChange, VersionActor, VersionInfo } from '../../../shared/history.js'
import { roleAtLeast } from '../../../shared/roles.js'
import { failedStatus, failureText, restApi } from '../api.js'
import type { Me } from '../auth.js'
import { confirmDialog } from '../dialog.js'
import { h, setChildren, setText } from '../dom.js'
import { ago, stamp } from '../time.js'
import { avatar, empty } from '../ui.js'

const REASONS: Record<string, string> = { auto: '', label: '', 'before-revert': 'before a restore', revert: 'restore' }

export class HistoryPanel {
  readonly el: HTMLElement
  private readonly list = h('ol', { class: 'history-list' })
  private readonly view = h('div', { class: 'history-view' })
  private readonly status = h('p', { class: 'history-status muted', 'aria-live': 'polite' })
  private readonly canRestore: boolean
  private readonly base: string
  private names = new Map<string, VersionActor>()

  constructor(
    private readonly workspace: string,
    readonly path: string,
    private readonly me: Me,
    stored: boolean,
  ) {
    this.canRestore = roleAtLeast(me.role, 'editor')
    this.base = `/docs/${path}`
    const label = h('input', { class: 'input input-small', type: 'text', placeholder: 'Label this version', 'aria-label': 'Version label', maxlength: 200 })
    const labelForm = this.canRestore
      ? h('form', { class: 'row history-label' }, label, h('button', { class: 'btn btn-small', type: 'submit' }, 'Save version'))
      : null
    labelForm?.addEventListener('submit', (event) => {
      event.preventDefault()
      if (!label.value.trim()) return
      void this.call('POST', 'versions', { label: label.value.trim() }).then(() => {
        label.value = ''
        void this.refresh()
      })
    })
    this.el = h(
      'aside',
      { class: 'card history-pane', 'aria-label': `History of ${path}` },
      h(
        'header',
        { class: 'card-head' },
        h('h3', null, 'History'),
        h('span', { class: 'spacer' }),
        h('button', { class: 'btn btn-small', type: 'button', 'data-action': 'blame', onclick: () => void this.showBlame() }, 'Blame'),
        h('button', { class: 'btn btn-small', type: 'button', 'data-action': 'refresh', onclick: () => void this.refresh() }, 'Refresh'),
      ),
      labelForm,
      this.status,
      this.list,
      this.view,
    )
    if (stored) void this.refresh()
    else setText(this.status, 'No history yet: it starts with the first change (press Refresh after editing).')
  }

  async refresh(): Promise<void> {
    const body = await this.call<{ versions: VersionInfo[] }>('GET', 'versions')
    if (!body) return
    setText(this.status, '')
    for (const version of body.versions) for (const actor of version.actors) this.names.set(actor.id, actor)
    setChildren(
      this.list,
      body.versions.length ? body.versions.map((version) => this.item(version)) : empty('No versions yet: one is saved after 30 s without changes.'),
    )
  }

  private item(version: VersionInfo): HTMLElement {
    const reason = REASONS[version.reason] ?? ''
    return h(
      'li',
      { class: 'history-item', 'data-version': version.id },
      h(
        'div',
        { class: 'history-line' },
        h('strong', null, `v${version.id}`),
        version.label ? h('span', { class: 'badge history-tag' }, version.label) : null,
        reason ? h('span', { class: 'muted' }, reason) : null,
        h('span', { class: 'muted', title: stamp(version.at) }, ago(version.at)),
      ),
      h(
        'div',
        { class: 'history-actors' },
        version.actors.map((actor) =>
          h(
            'span',
            { class: `history-actor history-${actor.kind}`, 'data-actor': actor.id, 'data-kind': actor.kind, title: `${actor.name} (${actor.kind})` },
            avatar(actor.name, actor.kind, colorFor(actor.id)),
            actor.name,
            actor.kind === 'agent' ? h('span', { class: 'badge badge-agent' }, 'agent') : null,
          ),
        ),
      ),
      h(
        'div',
        { class: 'row history-actions' },
        h('button', { class: 'btn btn-small', type: 'button', 'data-action': 'diff', onclick: () => void this.showDiff(version.id) }, 'Changes since'),
        this.canRestore
          ? h(
              'button',
              { class: 'btn btn-small btn-danger', type: 'button', 'data-action': 'restore', onclick: () => void this.restore(version) },
              'Restore this version',
            )
          : null,
      ),
    )
  }

  private async showDiff(id: number): Promise<void> {
    const diff = await this.call<{ changes: DiffChange[] }>('GET', `diff?from=${id}&to=current`)
    if (!diff) return
    const rows = diff.changes.map((change) => {
      const who = change.actors.map((actor) => this.names.get(actor)?.name ?? actor).join(', ')
      const color = change.actors[0] ? colorFor(change.actors[0]) : 'var(--muted)'
      const where = change.key !== undefined ? `${change.name}.${change.key}` : change.line !== undefined ? `line ${change.line}` : change.name
      const body = change.words
        ? h(
            'pre',
            { class: 'diff-text' },
            change.words.map((word) => (word.added ? h('ins', null, word.value) : word.removed ? h('del', null, word.value) : word.value)),
          )
        : h(
            'pre',
            { class: 'diff-text' },
            change.before !== undefined ? h('del', null, text(change.before)) : null,
            change.after !== undefined ? h('ins', null, text(change.after)) : null,
          )
      return h(
        'li',
        { class: `diff-change diff-${change.op}`, style: `--c: ${color}`, 'data-actors': change.actors.join(' ') },
        h('div', { class: 'diff-head' }, h('span', null, `${change.op} ${where}`), who ? h('span', { class: 'diff-who' }, who) : null),
        body,
      )
    })
    setChildren(this.view, h('h4', null, `Changes since v${id}`), rows.length ? h('ul', { class: 'diff-list' }, rows) : empty('No changes since this version.'))
  }

  private async showBlame(): Promise<void> {
    const blame = await this.call<{ lines: BlameLine[] }>('GET', 'blame')
    if (!blame) return
    const rows = blame.lines.map((line) =>
      h(
        'tr',
        { class: 'blame-line', style: `--c: ${line.actor ? colorFor(line.actor) : 'transparent'}`, 'data-actor': line.actor ?? '' },
        h(
          'td',
          { class: 'blame-who', title: line.at ? stamp(line.at) : 'before history was kept' },
          line.actor ? `${line.name ?? line.actor}${line.kind === 'agent' ? ' ⚙' : ''}` : '—',
        ),
        h('td', { class: 'blame-version muted' }, line.version ? `v${line.version}` : 'now'),
        h('td', { class: 'blame-text' }, line.text),
      ),
    )
    setChildren(
      this.view,
      h('h4', null, 'Blame'),
      rows.length ? h('table', { class: 'blame' }, h('tbody', null, rows)) : empty('The document has no text yet.'),
    )
  }

  private async restore(version: VersionInfo): Promise<void> {
    const decided = await confirmDialog({
      title: `Restore version ${version.id}?`,
      body: `${this.path} will read as it did ${ago(version.at)} for everyone, as a new change by you. The current state is kept as a version first, so this can be undone.`,
      confirmLabel: 'Restore',
      danger: true,
    })
    if (!decided.ok) return
    const done = await this.call<{ version: number }>('POST', 'revert', { version: version.id })
    if (!done) return
    await this.refresh()
    setText(this.status, `Restored version ${version.id} (saved as v${done.version}).`)
  }

  private async call<T>(method: string, what: string, body?: unknown): Promise<T | null> {
    try {
      return (await restApi(this.me, this.workspace).call(method, `${this.base}/${what}`, body)) as T
    } catch (error) {
      // A document nobody has written to yet has no history: say so rather than an error.
      setText(this.status, failedStatus(error) === 404 ? 'No history yet: it starts with the first change.' : failureText(error))
      return null
    }
  }
}

function text(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value)
}
