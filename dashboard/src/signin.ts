// The sign-in page (`/`, and `/w/<ws>` without a usable token): paste a token, or follow a share
// link. The token is kept for this tab only (sessionStorage).
import { checkWorkspace } from '../../shared/names.js'
import { coversWorkspace, currentUser, meFromToken, storeToken } from './auth.js'
import { h, setChildren, setText } from './dom.js'

export interface SignInOptions {
  /** the workspace the page is for, if any */
  workspace?: string
  /** why the user is here (e.g. an expired token) */
  message?: string
}

export function mountSignIn(root: HTMLElement, options: SignInOptions = {}): void {
  document.title = options.workspace ? `Sign in · ${options.workspace} · Huddle` : 'Sign in · Huddle'
  const token = h('textarea', {
    class: 'input mono',
    name: 'token',
    rows: 4,
    required: true,
    placeholder: 'eyJhbGciOiJIUzI1NiIs…',
    spellcheck: 'false',
    autocomplete: 'off',
    'aria-describedby': 'token-help',
  })
  const workspace = h('input', {
    class: 'input',
    name: 'workspace',
    placeholder: 'e.g. demo',
    autocomplete: 'off',
    spellcheck: 'false',
    value: options.workspace ?? '',
  })
  const error = h('p', { class: 'form-error', role: 'alert', id: 'signin-error' })
  const form = h(
    'form',
    { class: 'signin-form', novalidate: true },
    h('label', { class: 'field' }, h('span', null, 'Token'), token),
    h(
      'p',
      { class: 'help', id: 'token-help' },
      'A token is printed by ',
      h('code', null, 'huddle serve'),
      ' or minted with ',
      h('code', null, 'huddle token --actor you --workspace demo --role editor'),
      '. Got a share link instead? Just open it.',
    ),
    h('label', { class: 'field' }, h('span', null, 'Workspace'), workspace),
    error,
    h('button', { class: 'btn btn-primary btn-wide', type: 'submit' }, 'Sign in'),
  )
  token.addEventListener('input', () => {
    const me = meFromToken(token.value)
    if (typeof me !== 'string' && me.workspace !== '*' && !options.workspace) workspace.value = me.workspace
  })
  form.addEventListener('submit', (event) => {
    event.preventDefault()
    setText(error, '')
    const me = meFromToken(token.value)
    if (typeof me === 'string') return setText(error, me)
    const ws = workspace.value.trim() || (me.workspace === '*' ? '' : me.workspace)
    if (!ws) return setText(error, 'This token is good for every workspace: type which one to open.')
    const bad = checkWorkspace(ws)
    if (bad) return setText(error, bad)
    if (!coversWorkspace(me, ws)) return setText(error, `This token is for workspace “${me.workspace}”, not “${ws}”.`)
    storeToken(me.token)
    const target = `/w/${encodeURIComponent(ws)}`
    if (location.pathname === target) location.reload()
    else location.assign(target)
  })
  const existing = currentUser()
  const resume =
    existing && !options.message && existing.workspace !== '*' && !options.workspace
      ? h(
          'p',
          { class: 'resume' },
          'Signed in as ',
          h('strong', null, existing.name),
          '. ',
          h('a', { href: `/w/${encodeURIComponent(existing.workspace)}` }, `Continue to ${existing.workspace}`),
        )
      : null
  setChildren(
    root,
    h(
      'main',
      { class: 'center' },
      h(
        'div',
        { class: 'card signin' },
        h('h1', null, h('span', { class: 'brand' }, 'Huddle'), options.workspace ? ` · ${options.workspace}` : ''),
        h('p', { class: 'lede' }, 'Live coordination for people and agents: presence, locks, approvals and shared documents.'),
        options.message ? h('p', { class: 'notice notice-bad', role: 'alert' }, options.message) : null,
        resume,
        form,
      ),
    ),
  )
  token.focus()
}
