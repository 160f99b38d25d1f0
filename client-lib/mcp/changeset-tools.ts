// MCP tools for change sets: an agent proposes new text for several documents at once (usually
// with a human's approval) and follows it until it is applied, rejected or in conflict.
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { z } from 'zod'
import type { ChangeSetInfo } from '../changesets.js'
import type { Huddle } from '../index.js'
import type { Guard } from './history-tools.js'

const FINAL = ['applied', 'rejected', 'expired', 'cancelled', 'conflict', 'reverted']
const waitMs = z
  .number()
  .int()
  .min(0)
  .max(600_000)
  .optional()
  .describe('wait up to this many ms for a final status (applied, rejected, …); default 0: answer at once')

export function registerChangeSetTools(server: McpServer, guard: Guard): void {
  server.registerTool(
    'propose_changes',
    {
      description:
        'Propose new text for one or more documents as one change set, applied all at once or not at all. With approval, a human must approve it first and the server then applies it (you cannot approve your own). Lock the documents (doc:<path>) first so nobody else edits them meanwhile. Needs role editor.',
      inputSchema: {
        title: z.string().describe('what the change does, shown to approvers'),
        docs: z.record(z.string(), z.string()).describe('the new full text per document path, e.g. {"notes/plan.md": "..."}'),
        approval: z
          .union([z.boolean(), z.object({ quorum: z.number().int().min(1).optional(), approvers: z.array(z.string()).optional() })])
          .optional()
          .describe('true (or {quorum, approvers}) to ask for an approval; without one, the change set is applied at once'),
        wait_ms: waitMs,
      },
    },
    guard(
      async (
        args: { title: string; docs: Record<string, string>; approval?: boolean | { quorum?: number; approvers?: string[] }; wait_ms?: number },
        huddle,
      ) => {
        const proposed = await huddle.changesets.propose({ title: args.title, docs: args.docs, ...(args.approval ? { approval: args.approval } : {}) })
        if (proposed.status !== 'pending') return statusJson(await huddle.changesets.get(proposed.id))
        if (!args.approval) return statusJson(await huddle.changesets.apply(proposed.id))
        return statusJson(await settle(huddle, proposed.id, args.wait_ms ?? 0))
      },
    ),
  )

  server.registerTool(
    'changeset_status',
    {
      description:
        "A change set's status (pending, applied, rejected, expired, cancelled, conflict, reverted), its diff per document and which documents others changed since the proposal.",
      inputSchema: { id: z.string().describe('the change set id propose_changes returned'), wait_ms: waitMs },
      annotations: { readOnlyHint: true },
    },
    guard(async (args: { id: string; wait_ms?: number }, huddle) => statusJson(await settle(huddle, args.id, args.wait_ms ?? 0))),
  )
}

async function settle(huddle: Huddle, id: string, waitMs: number): Promise<ChangeSetInfo> {
  const info = await huddle.changesets.get(id)
  if (waitMs === 0 || FINAL.includes(info.status)) return info
  try {
    return await huddle.changesets.wait(id, { timeoutMs: waitMs })
  } catch {
    return huddle.changesets.get(id)
  }
}

function statusJson(info: ChangeSetInfo) {
  const next = new Map<string, string>([
    ['pending', info.approval ? 'waiting for a human to approve; call changeset_status again with wait_ms' : 'not applied yet'],
    ['applied', 'the documents hold the change'],
    ['conflict', 'someone else holds a lock on a document: wait for its release, then propose again'],
    ['rejected', 'an approver rejected it: see the approval for the reason, change the proposal and propose again'],
  ])
  const hint = next.get(info.status)
  return { ...info, ...(hint ? { next: hint } : {}) }
}
