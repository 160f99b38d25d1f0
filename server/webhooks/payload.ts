// What a delivery sends: the Standard Webhooks body and headers for `standard` endpoints, and a
// Slack incoming-webhook message (`text` + `blocks`) for `slack` endpoints.
import type { AuditEntry } from '../audit/chain.js'
import { approvalLink, panelLink } from '../../shared/dashboard-links.js'
import { eventId, eventType } from '../../shared/events.js'
import { sign } from './signature.js'

export type Format = 'standard' | 'slack'

export interface Request {
  headers: Record<string, string>
  body: string
}

export function standardRequest(secret: string, entry: AuditEntry, now: number): Request {
  const body = JSON.stringify({
    type: eventType(entry),
    workspace: entry.workspace,
    seq: entry.seq,
    at: entry.at,
    actor: entry.actor ?? null,
    data: entry.data ?? null,
    hash: entry.hash,
  })
  const id = eventId(entry)
  const timestamp = Math.floor(now / 1000)
  return {
    headers: {
      'content-type': 'application/json',
      'webhook-id': id,
      'webhook-timestamp': String(timestamp),
      'webhook-signature': sign(secret, id, timestamp, body),
    },
    body,
  }
}

/** One Slack message for one or more events (a burst is coalesced into one message). */
export function slackRequest(entries: AuditEntry[], dashboardUrl: string): Request {
  const lines = entries.map((entry) => ({ text: describe(entry), link: cardLink(dashboardUrl, entry) }))
  const text = lines.length === 1 ? lines[0]!.text : `${lines.length} events in ${entries[0]!.workspace}: ${lines.map((line) => line.text).join('; ')}`
  const blocks = lines.map((line) => ({ type: 'section', text: { type: 'mrkdwn', text: `${escapeMarkup(line.text)} · <${line.link}|open in Huddle>` } }))
  return { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: text.slice(0, 3000), blocks: blocks.slice(0, 50) }) }
}

/** The dashboard view an event belongs to: the approval's card, the locks, or the activity. */
export function cardLink(dashboardUrl: string, entry: Pick<AuditEntry, 'workspace' | 'type' | 'data'>): string {
  const type = eventType(entry)
  const key = (entry.data as { key?: unknown } | undefined)?.key
  if (type.startsWith('approval.') && typeof key === 'string') return approvalLink(dashboardUrl, entry.workspace, key)
  return panelLink(dashboardUrl, entry.workspace, type.startsWith('lock.') ? 'locks' : 'activity')
}

type Data = Record<string, unknown>

function describe(entry: AuditEntry): string {
  const data = (entry.data ?? {}) as Data
  const who = entry.actor ?? 'someone'
  const resources = Array.isArray(data.resources) ? data.resources.join(', ') : ''
  switch (eventType(entry)) {
    case 'ping':
      return `Huddle webhook set up for workspace ${entry.workspace}`
    case 'approval.requested':
      return `${who} asks for approval: ${String(data.title ?? '')} (${String(data.action ?? '')})`
    case 'approval.voted':
      return `${who} voted ${String(data.decision ?? '')} on an approval${data.reason ? `: ${String(data.reason)}` : ''}`
    case 'approval.decided':
    case 'approval.expired':
      return `approval requested by ${who} is ${String(data.state ?? 'decided')}${Array.isArray(data.by) ? ` by ${data.by.join(', ')}` : ''}${data.reason ? ` (${String(data.reason)})` : ''}`
    case 'lock.granted':
      return `${who} holds ${resources}`
    case 'lock.waiting':
      return `${who} has waited ${Math.round(Number(data.waitedMs ?? 0) / 1000)} s for ${resources}`
    case 'lock.revoked':
    case 'lock.lost':
      return `${who} lost ${resources}${data.reason ? `: ${String(data.reason)}` : ''}`
    default:
      return `${eventType(entry)} by ${who} in ${entry.workspace}`
  }
}

/** Slack mrkdwn treats &, < and > as markup. */
function escapeMarkup(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}
