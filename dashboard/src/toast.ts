// Unobtrusive notices in a corner; announced politely to screen readers.
import { h } from './dom.js'

export interface ToastOptions {
  tone?: 'info' | 'ok' | 'bad'
  action?: { label: string; run: () => void }
  /** ms; 0 keeps it until dismissed */
  timeoutMs?: number
}

let region: HTMLElement | null = null

export function toast(message: string, options: ToastOptions = {}): void {
  if (!region) {
    region = h('div', { class: 'toasts', role: 'status', 'aria-live': 'polite' })
    document.body.append(region)
  }
  const close = () => el.remove()
  const el = h(
    'div',
    { class: `toast toast-${options.tone ?? 'info'}` },
    h('span', { class: 'toast-text' }, message),
    options.action &&
      h(
        'button',
        {
          class: 'btn btn-small',
          type: 'button',
          onclick: () => {
            options.action!.run()
            close()
          },
        },
        options.action.label,
      ),
    h('button', { class: 'toast-close', type: 'button', 'aria-label': 'Dismiss', onclick: close }, '×'),
  )
  region.append(el)
  while (region.children.length > 4) region.firstElementChild!.remove()
  const timeout = options.timeoutMs ?? (options.tone === 'bad' ? 10_000 : 6000)
  if (timeout > 0) setTimeout(close, timeout)
}
