// A modal confirmation (native <dialog>): returns what was decided and the optional text typed.
import { h } from './dom.js'

export interface ConfirmOptions {
  title: string
  body: string
  confirmLabel: string
  danger?: boolean
  /** asks for optional text, e.g. a reason */
  input?: { label: string; placeholder?: string; maxLength?: number }
}

export function confirmDialog(options: ConfirmOptions): Promise<{ ok: boolean; text: string }> {
  return new Promise((resolve) => {
    const input = options.input
      ? h('input', { type: 'text', class: 'input', placeholder: options.input.placeholder ?? '', maxlength: options.input.maxLength ?? 1000 })
      : null
    const dialog = h(
      'dialog',
      { class: 'dialog', 'aria-labelledby': 'dialog-title' },
      h(
        'form',
        { method: 'dialog' },
        h('h2', { id: 'dialog-title' }, options.title),
        h('p', null, options.body),
        input && h('label', { class: 'field' }, h('span', null, options.input!.label), input),
        h(
          'div',
          { class: 'dialog-actions' },
          h('button', { type: 'submit', value: 'cancel', class: 'btn' }, 'Cancel'),
          h('button', { type: 'submit', value: 'ok', class: options.danger ? 'btn btn-danger' : 'btn btn-primary' }, options.confirmLabel),
        ),
      ),
    )
    dialog.addEventListener('close', () => {
      resolve({ ok: dialog.returnValue === 'ok', text: input?.value.trim() ?? '' })
      dialog.remove()
    })
    document.body.append(dialog)
    dialog.showModal()
    ;(input ?? dialog.querySelector<HTMLButtonElement>('button[value=cancel]'))?.focus()
  })
}
