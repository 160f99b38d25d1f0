// `huddle request`, `huddle approve`, `huddle reject` and `huddle approvals`.
import { constants } from 'node:os'
import type { Command } from 'commander'
import { APPROVAL_STATES, type ApprovalState, type Decision } from '../../shared/coordination.js'
import { approvalLink } from '../../shared/dashboard-links.js'
import type { RequestOptions } from '../approvals.js'
import { describeApprovalState, formatDuration } from '../describe.js'
import { HuddleError } from '../errors.js'
import type { Huddle } from '../node.js'
import { type ApprovalInfo, displayIds } from '../views.js'
import { serverUrls } from '../urls.js'
import {
  action,
  collect,
  type ConnectionFlags,
  durationArg,
  intArg,
  jsonArg,
  onSignals,
  openApi,
  openClient,
  printJson,
  settings,
  table,
  warn,
  withConnectionOptions,
} from './settings.js'

interface RequestFlags extends ConnectionFlags {
  action?: string
  details?: unknown
  quorum?: number
  approver: string[]
  expires?: number
  allowSelf?: boolean
  wait?: boolean
  json?: boolean
}

/** `request --wait` exit statuses, by final state. */
const EXIT_BY_STATE: Record<ApprovalState, number> = { approved: 0, rejected: 1, expired: 2, cancelled: 2, pending: 2 } // pending: never final
const PROGRESS_EVERY_MS = 30_000
const STATES: readonly ApprovalState[] = APPROVAL_STATES

export function registerApprovalCommands(program: Command): void {
  withConnectionOptions(program.command('request'))
    .description('ask for an approval; with --wait, wait for the decision')
    .argument('<title>', 'what approvers see, e.g. "Deploy v1.4 to production"')
    .option('--action <action>', 'what will be done once approved, e.g. deploy (default: the title)')
    .option('--details <json>', 'JSON shown to approvers, e.g. \'{"pr": 42}\'', jsonArg)
    .option('--quorum <n>', 'distinct approvals needed (default 1)', intArg)
    .option('--approver <id>', 'who may approve: an actor id or a role name (repeat for more; default: every human approver)', collect, [])
    .option('--expires <duration>', 'expire undecided after this long, e.g. 1h', durationArg)
    .option('--allow-self', 'let the requester approve it too')
    .option('--wait', 'wait for the decision: exit 0 approved, 1 rejected, 2 expired or cancelled')
    .option('--json', 'print the approval as JSON')
    .addHelpText('after', '\nWith --wait, an interrupt (Ctrl-C, SIGTERM) cancels the request before exiting.')
    .action(action(async (title: string, flags: RequestFlags) => requestApproval(title, flags)))

  for (const decision of ['approve', 'reject'] as const) {
    const command = withConnectionOptions(program.command(decision))
      .description(`${decision} a pending request (humans with role approver or admin)`)
      .argument('<id>', 'the id `huddle approvals` shows, or the full key')
    if (decision === 'reject') command.requiredOption('--reason <text>', 'why: the requester sees it')
    else command.option('--reason <text>', 'shown to the requester')
    command.action(action(async (id: string, flags: ConnectionFlags & { reason?: string }) => vote(id, decision, flags)))
  }

  withConnectionOptions(program.command('approvals'))
    .description('list the approvals of the workspace')
    .option('--pending', 'only those still waiting for a decision')
    .option('--state <state>', `only those in this state (${STATES.join(', ')})`)
    .option('--json', 'print JSON')
    .action(
      action(async (flags: ConnectionFlags & { pending?: boolean; state?: string; json?: boolean }) => {
        const state = flags.pending ? 'pending' : flags.state
        if (state !== undefined && !STATES.includes(state as ApprovalState))
          throw new HuddleError('invalid-argument', `--state must be one of ${STATES.join(', ')}`)
        const all = await openApi(flags).approvals()
        const ids = displayIds(all)
        const shown = state ? all.filter((info) => info.status.state === state) : all
        if (flags.json) return printJson(shown.map((info) => ({ ...info, shortId: ids.get(info.key) })))
        if (shown.length === 0) return void process.stdout.write(state ? `no ${state} approvals\n` : 'no approvals\n')
        const now = Date.now()
        const rows = shown.map((info) => [
          ids.get(info.key)!,
          info.status.state,
          info.request.title,
          info.request.requester,
          `${formatDuration(now - info.status.at)} ago`,
          describeApprovalState(info),
        ])
        process.stdout.write(table(['ID', 'STATE', 'TITLE', 'REQUESTER', 'SINCE', 'DETAILS'], rows))
      }),
    )
}

async function requestApproval(title: string, flags: RequestFlags): Promise<number> {
  const options: RequestOptions = {
    title,
    action: flags.action ?? title,
    ...(flags.details !== undefined ? { details: flags.details } : {}),
    ...(flags.quorum !== undefined ? { quorum: flags.quorum } : {}),
    ...(flags.approver.length ? { approvers: flags.approver } : {}),
    ...(flags.expires !== undefined ? { expiresInMs: flags.expires } : {}),
    ...(flags.allowSelf ? { allowSelfApproval: true } : {}),
  }
  const client = await openClient(flags)
  // Catch interrupts before the request exists, so none slips between creating and awaiting it.
  let interrupted: NodeJS.Signals | null = null
  const stop = new AbortController()
  const offSignals = flags.wait
    ? onSignals((signal) => {
        interrupted = signal
        stop.abort(new Error(`interrupted by ${signal}`))
      })
    : () => undefined
  try {
    const handle = await client.approvals.request(options)
    const id = displayIds(client.approvals.list()).get(handle.key) ?? handle.key
    const link = approvalLink(serverUrls(settings(flags).url).http, client.workspace, handle.key)
    if (!flags.wait) {
      if (flags.json) printJson({ ...handle.info, link })
      else process.stdout.write(`approval ${id} requested: ${describeApprovalState(handle.info)}\n  ${link}\n`)
      return 0
    }
    if (!flags.json) process.stdout.write(`approval ${id} requested; waiting for the decision\n  ${link}\n`)
    warn(`approvers decide with: huddle approve ${id}   or   huddle reject ${id} --reason "..."`)
    let final: ApprovalInfo
    try {
      final = await awaitDecision(client, handle.key, id, stop.signal)
    } catch (error) {
      if (!interrupted) throw error
      // Nobody should approve what nobody waits for any more.
      const cancelled = await client.approvals.cancel(handle.key, `the requester stopped waiting (${interrupted})`).catch(() => null)
      warn(cancelled ? `cancelled approval ${id}` : `could not cancel approval ${id}; cancel it in the dashboard`)
      return 128 + constants.signals[interrupted]
    }
    if (flags.json) printJson(final)
    else process.stdout.write(`${describeApprovalState(final)}\n`)
    return EXIT_BY_STATE[final.status.state]
  } finally {
    offSignals()
    await client.close()
  }
}

/** Waits for the decision, showing on stderr what is still needed. */
async function awaitDecision(client: Huddle, key: string, id: string, signal: AbortSignal): Promise<ApprovalInfo> {
  let latest: ApprovalInfo | null = null
  const show = () => latest && warn(`waiting for approval ${id} ("${latest.request.title}"): ${describeApprovalState(latest)}`)
  const timer = setInterval(show, PROGRESS_EVERY_MS)
  try {
    return await client.approvals.decided(key, {
      signal,
      onChange: (info) => {
        latest = info
        show()
      },
    })
  } finally {
    clearInterval(timer)
  }
}

async function vote(id: string, decision: Decision, flags: ConnectionFlags & { reason?: string }): Promise<void> {
  const client = await openClient(flags)
  try {
    const info = await client.approvals.vote(id, decision, flags.reason)
    const verb = decision === 'approve' ? 'approved' : 'rejected'
    process.stdout.write(`${verb} ${id} ("${info.request.title}"); it is now ${describeApprovalState(info)}\n`)
  } finally {
    await client.close()
  }
}
