// Share links (admins): create one for a role with an expiry, an optional password and use limit;
// copy it; revoke it. Someone opening the link at /join/<id> redeems it for a token.
import { parseDuration } from '../../../shared/duration.js'
import { ROLES } from '../../../shared/roles.js'
import { failedStatus, failureText, restApi } from '../api.js'
import type { Me } from '../auth.js'
import { confirmDialog } from '../dialog.js'
import { h, setChildren, setText } from '../dom.js'
import type { WorkspaceModel } from '../model.js'
import { now, stamp, until } from '../time.js'
import { toast } from '../toast.js'
import { empty } from '../ui.js'

export interface ShareLink {
  id: string
  workspace: string
  role: string
  label?: string
  expiresAt: number
  maxUses?: number
  uses: number
  hasPassword: boolean
  createdBy: string
  createdAt: number
  revokedAt?: number
}

export function linkState(link: ShareLink, at = now()): 'active' | 'revoked' | 'expired' | 'used up' {
  if (link.revokedAt) return 'revoked'
  if (link.expiresAt <= at) return 'expired'
  if (link.maxUses !== undefined && link.uses >= link.maxUses) return 'used up'
  return 'active'
}

const EXPIRIES: Array<[string, string]> = [
  ['1h', '1 hour'],
  ['1d', '1 day'],
  ['7d', '7 days'],
  ['30d', '30 days'],
  ['custom', 'Custom…'],
]

export function linkUrl(path: string): string {
  return new URL(path, location.origin).href
}

/** Copies text; falls back to a selection copy where the Clipboard API is unavailable (plain http). */
export async function copyText(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text)
    return true
  } catch {
    const area = h('textarea', { class: 'offscreen', readonly: true }, text)
    document.body.append(area)
    area.select()
    const ok = document.execCommand('copy')
    area.remove()
    return ok
  }
}

export class LinksPanel {
  readonly el: HTMLElement
  private readonly body = h('tbody')
  private readonly none = empty('No share links yet.')
  private readonly status = h('p', { class: 'form-error', role: 'alert' })
  private readonly created = h('div', { class: 'created-link', hidden: true })
  private links: ShareLink[] = []
  private loaded = false

  constructor(
    private readonly model: WorkspaceModel,
    private readonly me: Me,
  ) {
    const role = h(
      'select',
      { class: 'input', name: 'role' },
      ROLES.map((r) => h('option', { value: r }, r)),
    )
    const expiry = h(
      'select',
      { class: 'input', name: 'expiry' },
      EXPIRIES.map(([value, label]) => h('option', { value }, label)),
    )
    expiry.value = '1d'
    const custom = h('input', { class: 'input', name: 'custom', placeholder: 'e.g. 90m, 12h, 14d', hidden: true, 'aria-label': 'Custom expiry' })
    expiry.addEventListener('change', () => (custom.hidden = expiry.value !== 'custom'))
    const password = h('input', { class: 'input', name: 'password', type: 'password', autocomplete: 'new-password', placeholder: 'none' })
    const maxUses = h('input', { class: 'input', name: 'maxUses', type: 'number', min: 1, step: 1, placeholder: 'unlimited' })
    const label = h('input', { class: 'input', name: 'label', maxlength: 200, placeholder: 'e.g. for the design review' })
    const formError = h('p', { class: 'form-error', role: 'alert' })
    const submit = h('button', { class: 'btn btn-primary', type: 'submit' }, 'Create link')
    const form = h(
      'form',
      { class: 'link-form', novalidate: true },
      h('label', { class: 'field' }, h('span', null, 'Role'), role),
      h('label', { class: 'field' }, h('span', null, 'Expires after'), expiry, custom),
      h('label', { class: 'field' }, h('span', null, 'Password (optional)'), password),
      h('label', { class: 'field' }, h('span', null, 'Use limit (optional)'), maxUses),
      h('label', { class: 'field field-wide' }, h('span', null, 'Label (optional)'), label),
      h('div', { class: 'field-wide' }, submit, formError),
    )
    form.addEventListener('submit', async (event) => {
      event.preventDefault()
      setText(formError, '')
      let expiresInMs: number
      try {
        expiresInMs = parseDuration(expiry.value === 'custom' ? custom.value : expiry.value)
      } catch (error) {
        setText(formError, (error as Error).message)
        return
      }
      const uses = maxUses.value.trim() ? Number(maxUses.value) : undefined
      if (uses !== undefined && (!Number.isInteger(uses) || uses < 1)) {
        setText(formError, 'The use limit must be a whole number of at least 1.')
        return
      }
      submit.disabled = true
      try {
        const body = {
          role: role.value,
          expiresInMs,
          ...(password.value ? { password: password.value } : {}),
          ...(uses !== undefined ? { maxUses: uses } : {}),
          ...(label.value.trim() ? { label: label.value.trim() } : {}),
        }
        const result = (await restApi(this.me, this.model.workspace).call('POST', '/links', body)) as { link: ShareLink; url: string }
        password.value = ''
        maxUses.value = ''
        label.value = ''
        this.showCreated(result.link, linkUrl(result.url))
        await this.load()
      } catch (error) {
        setText(formError, failureText(error))
      } finally {
        submit.disabled = false
      }
    })
    this.el = h(
      'section',
      { class: 'panel', id: 'panel-links', 'aria-labelledby': 'links-title' },
      h('h2', { id: 'links-title', class: 'panel-title' }, 'Share links'),
      h('div', { class: 'card' }, h('h3', null, 'New link'), form, this.created),
      h(
        'div',
        { class: 'card' },
        h(
          'header',
          { class: 'card-head' },
          h('h3', null, 'Links'),
          h('span', { class: 'spacer' }),
          h('button', { class: 'btn btn-small', type: 'button', onclick: () => void this.load() }, 'Refresh'),
        ),
        this.status,
        h(
          'table',
          { class: 'table links' },
          h(
            'thead',
            null,
            h(
              'tr',
              null,
              ['Link', 'Role', 'State', 'Expires', 'Uses', 'Password', 'Created by', ''].map((t) => h('th', null, t)),
            ),
          ),
          this.body,
        ),
        this.none,
      ),
    )
  }

  activate(): void {
    if (!this.loaded) void this.load()
  }

  private showCreated(link: ShareLink, url: string): void {
    const input = h('input', { class: 'input mono', readonly: true, value: url, 'aria-label': 'New share link', 'data-link-id': link.id })
    setChildren(
      this.created,
      h(
        'p',
        null,
        `Link for role ${link.role} created. It works until ${stamp(link.expiresAt)}${link.maxUses ? `, for ${link.maxUses} use${link.maxUses === 1 ? '' : 's'}` : ''}${link.hasPassword ? ', with the password you set' : ''}:`,
      ),
      h('div', { class: 'row' }, input, h('button', { class: 'btn', type: 'button', onclick: () => void this.copy(url) }, 'Copy')),
    )
    this.created.hidden = false
    input.select()
  }

  private async copy(url: string): Promise<void> {
    toast((await copyText(url)) ? 'Link copied.' : 'Could not copy: select the link and copy it yourself.', { tone: 'ok' })
  }

  async load(): Promise<void> {
    try {
      const result = (await restApi(this.me, this.model.workspace).call('GET', '/links')) as { links?: ShareLink[] }
      this.links = result.links ?? []
      this.loaded = true
      setText(this.status, '')
    } catch (error) {
      setText(this.status, failedStatus(error) === 404 ? 'This server does not offer share links yet.' : `Could not load the links: ${failureText(error)}`)
    }
    this.render()
  }

  private render(): void {
    const t = now()
    const rows = [...this.links].sort((a, b) => Number(linkState(a, t) !== 'active') - Number(linkState(b, t) !== 'active') || b.createdAt - a.createdAt)
    setChildren(
      this.body,
      rows.map((link) => {
        const state = linkState(link, t)
        return h(
          'tr',
          { class: `link-row link-${state.replace(' ', '-')}`, 'data-link-id': link.id },
          h('td', { 'data-label': 'Link' }, h('span', null, link.label ?? ''), h('code', { class: 'link-id' }, link.id)),
          h('td', { 'data-label': 'Role' }, h('span', { class: `badge badge-role badge-${link.role}` }, link.role)),
          h('td', { 'data-label': 'State' }, h('span', { class: `badge badge-link-${state.replace(' ', '-')}` }, state)),
          h('td', { 'data-label': 'Expires', title: stamp(link.expiresAt) }, state === 'expired' ? 'expired' : until(link.expiresAt, t)),
          h('td', { 'data-label': 'Uses' }, link.maxUses !== undefined ? `${link.uses} of ${link.maxUses}` : String(link.uses)),
          h('td', { 'data-label': 'Password' }, link.hasPassword ? 'yes' : 'no'),
          h('td', { 'data-label': 'Created by', title: stamp(link.createdAt) }, this.model.nameOf(link.createdBy)),
          h(
            'td',
            { class: 'actions' },
            state === 'active'
              ? h('button', { class: 'btn btn-small', type: 'button', onclick: () => void this.copy(linkUrl(`/join/${link.id}`)) }, 'Copy')
              : null,
            state !== 'revoked'
              ? h('button', { class: 'btn btn-small btn-danger', type: 'button', 'data-action': 'revoke', onclick: () => void this.revoke(link) }, 'Revoke')
              : null,
          ),
        )
      }),
    )
    this.none.hidden = rows.length > 0
  }

  private async revoke(link: ShareLink): Promise<void> {
    const answer = await confirmDialog({
      title: 'Revoke this link?',
      body: `Nobody can redeem ${link.label ? `“${link.label}”` : link.id} any more, and everyone who joined with it is disconnected within a second.`,
      confirmLabel: 'Revoke',
      danger: true,
    })
    if (!answer.ok) return
    try {
      await restApi(this.me, this.model.workspace).call('DELETE', `/links/${encodeURIComponent(link.id)}`)
      toast('Link revoked.', { tone: 'ok' })
    } catch (error) {
      toast(`Could not revoke: ${failureText(error)}`, { tone: 'bad' })
    }
    await this.load()
  }
}
