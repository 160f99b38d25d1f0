// Small shared pieces of UI: avatars, badges, empty states.
import { h } from './dom.js'

const COLOR_RE = /^#[0-9a-fA-F]{6}$/

/** The colour peers publish (the server assigns one per actor); a neutral fallback otherwise. */
export function colorOf(color: unknown): string {
  return typeof color === 'string' && COLOR_RE.test(color) ? color : '#6b7280'
}

function initials(name: string): string {
  const words = name
    .replace(/[^\p{L}\p{N} ._@-]/gu, '')
    .split(/[\s._@-]+/)
    .filter(Boolean)
  const letters = words.length > 1 ? words[0]![0]! + words[1]![0]! : (words[0] ?? '?').slice(0, 2)
  return letters.toUpperCase()
}

/** A round avatar for humans, a square one for agents. */
export function avatar(name: string, kind: string | null | undefined, color: unknown): HTMLElement {
  return h(
    'span',
    { class: `avatar ${kind === 'agent' ? 'avatar-agent' : 'avatar-human'}`, style: `--c: ${colorOf(color)}`, 'aria-hidden': 'true' },
    initials(name),
  )
}

export function kindBadge(kind: string | null | undefined): HTMLElement {
  return kind === 'agent'
    ? h('span', { class: 'badge badge-agent', title: 'an AI agent or program' }, 'agent')
    : h('span', { class: 'badge badge-human', title: 'a person' }, 'human')
}

export function roleBadge(role: string | null | undefined): HTMLElement | null {
  return role ? h('span', { class: `badge badge-role badge-${role}` }, role) : null
}

export function empty(text: string): HTMLElement {
  return h('p', { class: 'empty' }, text)
}

/** An actor shown as "Name" with the id in a tooltip (and as text when the name differs). */
export function actorLabel(actor: string, name: string, kind?: string | null): HTMLElement {
  return h(
    'span',
    { class: 'actor', title: `${actor}${kind ? ` (${kind})` : ''}` },
    kind === 'agent' ? h('span', { class: 'agent-mark', 'aria-label': 'agent' }, '⚙') : null,
    name,
    name !== actor ? h('span', { class: 'actor-id' }, ` @${actor}`) : null,
  )
}
