// Redeeming a share link (`/join/<id>`): shows what the link gives, asks for a name (and the
// password when it has one), and trades it for a token kept in this tab.
import { requestJson } from '../../client-lib/api.js'
import { failedStatus, failureText } from './api.js'
import { meFromToken, storeToken } from './auth.js'
import { h, setChildren, setText } from './dom.js'
import { stamp, until } from './time.js'

interface LinkInfo {
  id: string
  workspace: string
  role: string
  expiresAt: number
  hasPassword: boolean
  usable: boolean
  problem?: string
}

const NAME_KEY = 'huddle.name'

/** The server's messages start in lower case, to fit after a prefix; alone they become a sentence. */
function sentence(text: string): string {
  const trimmed = text.trim()
  return `${trimmed.charAt(0).toUpperCase()}${trimmed.slice(1)}${/[.!?]$/.test(trimmed) ? '' : '.'}`
}

export async function mountJoin(root: HTMLElement, linkId: string): Promise<void> {
  document.title = 'Join · Huddle'
  const card = h(
    'div',
    { class: 'card signin', 'aria-live': 'polite' },
    h('h1', null, h('span', { class: 'brand' }, 'Huddle')),
    h('p', { class: 'muted' }, 'Checking the link…'),
  )
  setChildren(root, h('main', { class: 'center' }, card))
  const refuse = (message: string) =>
    setChildren(
      card,
      h('h1', null, h('span', { class: 'brand' }, 'Huddle')),
      h('p', { class: 'notice notice-bad refused', role: 'alert' }, sentence(message)),
      h('p', null, 'Have a token instead? ', h('a', { href: '/' }, 'Sign in with it'), '.'),
    )
  let info: LinkInfo
  try {
    info = (await requestJson('GET', `${location.origin}/api/links/${encodeURIComponent(linkId)}`)) as LinkInfo
  } catch (error) {
    return refuse(`This link cannot be checked: ${failureText(error)}`)
  }
  if (!info.usable) return refuse(info.problem ?? 'this link can no longer be used: ask for a new one')
  document.title = `Join ${info.workspace} · Huddle`
  let savedName = ''
  try {
    savedName = localStorage.getItem(NAME_KEY) ?? ''
  } catch {
    // storage unavailable: just ask
  }
  const name = h('input', {
    class: 'input',
    name: 'name',
    required: true,
    maxlength: 128,
    autocomplete: 'name',
    placeholder: 'How others will see you',
    value: savedName,
  })
  const password = info.hasPassword
    ? h('input', { class: 'input', name: 'password', type: 'password', required: true, autocomplete: 'current-password' })
    : null
  const error = h('p', { class: 'form-error', role: 'alert' })
  const submit = h('button', { class: 'btn btn-primary btn-wide', type: 'submit' }, `Join ${info.workspace}`)
  const form = h(
    'form',
    { class: 'signin-form', novalidate: true },
    h('label', { class: 'field' }, h('span', null, 'Your name'), name),
    password && h('label', { class: 'field' }, h('span', null, 'Password'), password),
    error,
    submit,
  )
  form.addEventListener('submit', async (event) => {
    event.preventDefault()
    setText(error, '')
    const who = name.value.trim()
    if (!who) return setText(error, 'Type your name, so others know who you are.')
    if (password && !password.value) return setText(error, 'This link needs its password.')
    submit.disabled = true
    try {
      // The holder id makes this browser the same guest each time it redeems this link.
      const holderKey = `huddle.holder.${linkId}`
      let holder: string | null = null
      try {
        holder = localStorage.getItem(holderKey)
      } catch {
        // storage unavailable: a new guest each time
      }
      const result = (await requestJson('POST', `${location.origin}/api/links/${encodeURIComponent(linkId)}/redeem`, {
        json: { name: who, ...(holder ? { holder } : {}), ...(password ? { password: password.value } : {}) },
      })) as { token: string; workspace: string; holder: string }
      const me = meFromToken(result.token)
      if (typeof me === 'string') throw new Error(me)
      try {
        localStorage.setItem(NAME_KEY, who)
        localStorage.setItem(holderKey, result.holder)
      } catch {
        // not important
      }
      storeToken(result.token)
      location.assign(`/w/${encodeURIComponent(result.workspace)}`)
    } catch (err) {
      submit.disabled = false
      const message = failureText(err)
      if (failedStatus(err) === 410 || failedStatus(err) === 404) return refuse(message)
      setText(error, sentence(message))
      password?.select()
    }
  })
  setChildren(
    card,
    h('h1', null, h('span', { class: 'brand' }, 'Huddle'), ` · ${info.workspace}`),
    h('p', { class: 'lede' }, 'You are invited to the workspace ', h('strong', null, info.workspace), ' as ', h('strong', null, info.role), '.'),
    h('p', { class: 'muted', title: stamp(info.expiresAt) }, `This link expires ${until(info.expiresAt)}.`),
    form,
  )
  name.focus()
}
