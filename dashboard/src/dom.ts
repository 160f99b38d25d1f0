// A tiny DOM toolkit: `h()` builds elements (text always goes in as text, never as HTML, so
// nothing a peer writes can inject markup), `keyedList()` keeps one element per key so inputs
// inside list items survive updates.

export type Child = Node | string | number | null | undefined | false | Child[]
type Listener = (event: never) => void
export type Attrs = Record<string, string | number | boolean | null | undefined | Listener>

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs?: Attrs | null, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag)
  if (attrs) setAttrs(el, attrs)
  append(el, children)
  return el
}

export function setAttrs(el: HTMLElement, attrs: Attrs): void {
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue
    if (typeof value === 'function') {
      el.addEventListener(name.slice(2).toLowerCase(), value as EventListener)
    } else if (name === 'class') {
      el.className = String(value)
    } else if (name === 'value' && 'value' in el) {
      ;(el as HTMLInputElement).value = String(value)
    } else {
      el.setAttribute(name, value === true ? '' : String(value))
    }
  }
}

export function append(el: Node, children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue
    if (Array.isArray(child)) append(el, child)
    else el.appendChild(typeof child === 'object' ? child : document.createTextNode(String(child)))
  }
}

/** Replaces the children of `el`. */
export function setChildren(el: Node, ...children: Child[]): void {
  const fragment = document.createDocumentFragment()
  append(fragment, children)
  ;(el as Element).replaceChildren(fragment)
}

/** Sets text only when it changed (keeps selections and screen readers calm). */
export function setText(el: Node, text: string): void {
  if (el.textContent !== text) el.textContent = text
}

export function toggle(el: HTMLElement, visible: boolean): void {
  el.hidden = !visible
}

export interface Item<T> {
  el: HTMLElement
  update(value: T): void
}

/**
 * Keeps `container`'s children in step with a list of values: one item per key, created once,
 * updated in place and moved into order. Focus and half-typed text inside an item survive.
 */
export function keyedList<T>(container: HTMLElement, create: (value: T, key: string) => Item<T>) {
  const items = new Map<string, Item<T>>()
  return {
    render(entries: Array<[string, T]>): void {
      const seen = new Set<string>()
      let previous: Element | null = null
      for (const [key, value] of entries) {
        seen.add(key)
        let item = items.get(key)
        if (!item) {
          item = create(value, key)
          items.set(key, item)
        }
        item.update(value)
        const expected: Element | null = previous ? previous.nextElementSibling : container.firstElementChild
        if (expected !== item.el) container.insertBefore(item.el, expected)
        previous = item.el
      }
      for (const [key, item] of items) {
        if (!seen.has(key)) {
          item.el.remove()
          items.delete(key)
        }
      }
    },
    get size(): number {
      return items.size
    },
  }
}

/** Calls `fn` once per macrotask however often it is scheduled (also in background tabs). */
export function batched(fn: () => void): () => void {
  let pending = false
  return () => {
    if (pending) return
    pending = true
    setTimeout(() => {
      pending = false
      fn()
    }, 0)
  }
}
