// The MCP tools: the CLI's operations for AI agents. Every result is JSON text; a failure is an
// error result whose text says what went wrong and what to do, which agents act on.
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js'
import type { CallToolResult, ServerNotification, ServerRequest } from '@modelcontextprotocol/sdk/types.js'
import { z } from 'zod'
import { APPROVAL_STATES, LOCK_MODES, PRESENCE_STATUSES } from '../../shared/coordination.js'
import { parseDuration } from '../../shared/duration.js'
import { describeApprovalState, describeLock, describeWait } from '../describe.js'
import { HuddleError } from '../errors.js'
import type { Huddle } from '../index.js'
import type { Lock } from '../locks.js'
import { registerDocumentTools } from './document-tools.js'
import { registerHistoryTools } from './history-tools.js'
import { registerChangeSetTools } from './changeset-tools.js'
import { type ApprovalInfo, displayIds } from '../views.js'

/** MCP clients time out requests after 60 s by default: waits inside one call stay below that. */
const DEFAULT_LOCK_WAIT = '30s'
const DEFAULT_APPROVAL_WAIT = '50s'

const duration = z.string().describe('a duration such as 500ms, 30s, 10m, 1h')
const approvalId = z.string().describe('the approval id (as list_approvals shows it) or its full key')

type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>

export function registerTools(server: McpServer, client: () => Promise<Huddle>): void {
  /** The tool's callback: waits for the connection, runs, and turns any failure into an error result. */
  const guard =
    <A>(run: (args: A, huddle: Huddle, extra: Extra) => Promise<unknown>) =>
    async (args: A, extra: Extra): Promise<CallToolResult> => {
      try {
        return ok(await run(args, await client(), extra))
      } catch (error) {
        return failed(error)
      }
    }
  const readOnly = { readOnlyHint: true }

  server.registerTool(
    'acquire_lock',
    {
      description: `Take locks on resources (all or none) before touching what they protect. Waits up to \`wait\` (default ${DEFAULT_LOCK_WAIT}) while others hold them. Returns a fencing token: pass it along with writes so the protected system can reject a stale holder. Locks last until release_lock, \`ttl\`, or the end of this MCP session.`,
      inputSchema: {
        resources: z.array(z.string()).min(1).max(16).describe('resource names, e.g. ["db", "repo:main"]'),
        mode: z.enum(LOCK_MODES).optional().describe('exclusive (default) or shared (readers)'),
        wait: duration.optional().describe(`how long to wait if they are taken (default ${DEFAULT_LOCK_WAIT}; 0s: do not wait)`),
        ttl: duration.optional().describe('the server releases the locks this long after granting them'),
        note: z.string().optional().describe('shown to others next to the lock, e.g. what you are doing'),
      },
    },
    guard(async (args, huddle, extra) => {
      const progress = progressReporter(extra)
      const lock = await huddle.locks.acquire(args.resources, {
        ...(args.mode ? { mode: args.mode } : {}),
        waitMs: ms(args.wait ?? DEFAULT_LOCK_WAIT, 'wait'),
        ...(args.ttl ? { ttlMs: ms(args.ttl, 'ttl') } : {}),
        ...(args.note !== undefined ? { note: args.note } : {}),
        signal: extra.signal,
        onWait: (info) => progress(describeWait(info)),
      })
      return {
        ...lockJson(lock),
        message: `locked ${lock.resources.join(', ')} with fencing token ${lock.token}; release it with release_lock {"lock_id": "${lock.id}"}`,
      }
    }),
  )

  server.registerTool(
    'release_lock',
    {
      description: 'Release locks this session holds: the one with `lock_id`, those covering any of `resources`, or (with neither) all of them.',
      inputSchema: {
        lock_id: z.string().optional().describe('the lock_id acquire_lock returned'),
        resources: z.array(z.string()).optional().describe('release every lock of this session on any of these'),
      },
    },
    guard(async (args, huddle) => {
      const held = huddle.locks.held()
      const chosen = held.filter((lock) =>
        args.lock_id ? lock.id === args.lock_id || lock.key === args.lock_id : args.resources ? lock.resources.some((r) => args.resources!.includes(r)) : true,
      )
      if (chosen.length === 0) {
        const mine = held.map((lock) => `${lock.id} (${lock.resources.join(', ')})`).join(', ') || 'none'
        throw new HuddleError('not-found', `no matching lock held by this session; it holds: ${mine}`)
      }
      await Promise.all(chosen.map((lock) => lock.release()))
      return { released: chosen.map(lockJson) }
    }),
  )

  server.registerTool(
    'list_locks',
    {
      description: 'List every lock in the workspace (holders, fencing tokens, who waits) and the locks this session holds.',
      inputSchema: {},
      annotations: readOnly,
    },
    guard(async (_args, huddle) => {
      const locks = huddle.locks.list()
      return { locks, mine: huddle.locks.held().map(lockJson), summary: locks.map((lock) => describeLock(lock)) }
    }),
  )

  server.registerTool(
    'request_approval',
    {
      description:
        'Ask humans to approve an action before doing it. Returns the approval id. With `wait`, waits that long for the decision; otherwise call await_approval.',
      inputSchema: {
        title: z.string().describe('what approvers see, e.g. "Deploy v1.4 to production"'),
        action: z.string().describe('what will be done once approved, e.g. "deploy"'),
        details: z.unknown().optional().describe('any JSON that helps approvers decide'),
        approvers: z.array(z.string()).optional().describe('actor ids or role names allowed to approve (default: every human approver)'),
        quorum: z.number().int().optional().describe('distinct approvals needed (default 1)'),
        expires: duration.optional().describe('expire undecided after this long'),
        wait: duration.optional().describe(`wait this long for the decision within this call (at most ${DEFAULT_APPROVAL_WAIT} is safe)`),
      },
    },
    guard(async (args, huddle, extra) => {
      const handle = await huddle.approvals.request({
        title: args.title,
        action: args.action,
        ...(args.details !== undefined ? { details: args.details } : {}),
        ...(args.approvers ? { approvers: args.approvers } : {}),
        ...(args.quorum !== undefined ? { quorum: args.quorum } : {}),
        ...(args.expires ? { expiresInMs: ms(args.expires, 'expires') } : {}),
      })
      const info = args.wait ? await awaitDecision(huddle, handle.key, ms(args.wait, 'wait'), extra) : handle.info
      return approvalJson(huddle, info)
    }),
  )

  server.registerTool(
    'await_approval',
    {
      description: `Wait up to \`timeout\` (default ${DEFAULT_APPROVAL_WAIT}) for an approval's decision. Returns its state: approved (go ahead), rejected, expired, cancelled, or still pending (call again).`,
      inputSchema: {
        id: approvalId,
        timeout: duration.optional(),
      },
    },
    guard(async (args, huddle, extra) => {
      const { key } = await huddle.approvals.handle(args.id)
      return approvalJson(huddle, await awaitDecision(huddle, key, ms(args.timeout ?? DEFAULT_APPROVAL_WAIT, 'timeout'), extra))
    }),
  )

  server.registerTool(
    'list_approvals',
    {
      description: 'List the approvals of the workspace, optionally only those in one state.',
      inputSchema: {
        state: z.enum(APPROVAL_STATES).optional(),
      },
      annotations: readOnly,
    },
    guard(async (args, huddle) => ({ approvals: huddle.approvals.list(args.state ? { state: args.state } : {}).map((info) => approvalJson(huddle, info)) })),
  )

  server.registerTool(
    'cancel_approval',
    {
      description: 'Cancel a pending approval this actor requested.',
      inputSchema: {
        id: approvalId,
        reason: z.string().optional(),
      },
    },
    guard(async (args, huddle) => approvalJson(huddle, await huddle.approvals.cancel(args.id, args.reason))),
  )

  server.registerTool(
    'set_presence',
    {
      description: 'Tell the people in the workspace what you are doing. Null clears a field.',
      inputSchema: {
        status: z.enum(PRESENCE_STATUSES).optional(),
        activity: z.string().nullable().optional().describe('e.g. editing, reviewing, testing'),
        viewing: z.string().nullable().optional().describe('the document or thing you are working on'),
      },
    },
    guard(async (args, huddle) => {
      huddle.presence.set(args)
      return { presence: huddle.presence.local }
    }),
  )

  server.registerTool(
    'list_online',
    {
      description: 'List who is online in the workspace, humans and agents, with their status and activity.',
      inputSchema: {},
      annotations: readOnly,
    },
    guard(async (_args, huddle) => ({ online: huddle.presence.list() })),
  )

  registerDocumentTools(server, guard)
  registerHistoryTools(server, guard)
  registerChangeSetTools(server, guard)
}

function ok(value: unknown): CallToolResult {
  return { content: [{ type: 'text', text: JSON.stringify(value, null, 2) }] }
}

function failed(error: unknown): CallToolResult {
  const message = error instanceof Error ? error.message : String(error)
  const code = error instanceof HuddleError ? `${error.code}: ` : ''
  return { isError: true, content: [{ type: 'text', text: `${code}${message}` }] }
}

function ms(text: string, name: string): number {
  try {
    return parseDuration(text)
  } catch (error) {
    throw new HuddleError('invalid-argument', `${name}: ${(error as Error).message}`)
  }
}

function lockJson(lock: Lock) {
  return {
    lock_id: lock.id,
    resources: lock.resources,
    mode: lock.mode,
    token: lock.token,
    grantedAt: lock.grantedAt,
    ...(lock.expiresAt !== undefined ? { expiresAt: lock.expiresAt } : {}),
  }
}

function approvalJson(huddle: Huddle, info: ApprovalInfo) {
  const id = displayIds(huddle.approvals.list()).get(info.key) ?? info.key
  return { id, key: info.key, state: info.status.state, summary: describeApprovalState(info), request: info.request, status: info.status, votes: info.votes }
}

/** The final state, or the current one once `timeoutMs` passed. */
async function awaitDecision(huddle: Huddle, key: string, timeoutMs: number, extra: Extra): Promise<ApprovalInfo> {
  const progress = progressReporter(extra)
  const timeout = AbortSignal.timeout(timeoutMs)
  try {
    return await huddle.approvals.decided(key, { signal: AbortSignal.any([timeout, extra.signal]), onChange: (info) => progress(describeApprovalState(info)) })
  } catch (error) {
    if (!timeout.aborted) throw error
    return huddle.approvals.get(key)!
  }
}

/** Sends MCP progress notifications when the caller asked for them (a progress token). */
function progressReporter(extra: Extra): (message: string) => void {
  const token = extra._meta?.progressToken
  let progress = 0
  return (message) => {
    if (token === undefined) return
    extra.sendNotification({ method: 'notifications/progress', params: { progressToken: token, progress: ++progress, message } }).catch(() => undefined)
  }
}
