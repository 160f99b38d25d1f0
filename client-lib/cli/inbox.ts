// `huddle inbox` (what waits for you) and `huddle watch` (the workspace's events as JSON lines,
// the same dotted types and fields webhooks carry), both over REST.
import type { Command } from 'commander'
import { approvalLink } from '../../shared/dashboard-links.js'
import { checkSubscriptions, eventId, eventType, wants } from '../../shared/events.js'
import { Audit } from '../audit.js'
import { formatDuration } from '../describe.js'
import { HuddleError } from '../errors.js'
import { inboxItems, type InboxKind } from '../inbox.js'
import { serverUrls } from '../urls.js'
import { displayIds } from '../views.js'
import { action, collect, type ConnectionFlags, intArg, onSignals, openApi, printJson, settings, table, warn, withConnectionOptions } from './settings.js'

const LABELS: Record<InboxKind, string> = { vote: 'vote', waiting: 'lock queue', requested: 'your request' }

export function registerInboxCommands(program: Command): void {
  withConnectionOptions(program.command('inbox'))
    .description('what waits for you: approvals you may vote on, your claims waiting for a lock, your pending requests')
    .option('--json', 'print JSON')
    .action(
      action(async (flags: ConnectionFlags & { json?: boolean }) => {
        const api = openApi(flags)
        const [approvals, locks] = await Promise.all([api.approvals(), api.locks()])
        const items = inboxItems(api.identity, approvals, locks)
        const base = serverUrls(settings(flags).url).http
        const link = (key: string) => approvalLink(base, settings(flags).workspace, key)
        const withLinks = items.map((item) => ({ ...item, ...(item.kind === 'waiting' ? {} : { link: link(item.key) }) }))
        if (flags.json) return printJson(withLinks)
        if (items.length === 0) return void process.stdout.write('nothing waits for you\n')
        const ids = displayIds(approvals)
        const now = Date.now()
        const rows = withLinks.map((item) => [
          LABELS[item.kind],
          ids.get(item.key) ?? item.key,
          item.title,
          `${formatDuration(now - item.since)} ago`,
          item.detail,
        ])
        process.stdout.write(table(['WHAT', 'ID', 'TITLE', 'SINCE', 'DETAILS'], rows))
        const votes = withLinks.filter((item) => item.kind === 'vote')
        if (votes.length > 0) process.stdout.write(`\ndecide with \`huddle approve <id>\` / \`huddle reject <id> --reason …\`, or open ${votes[0]!.link}\n`)
      }),
    )

  withConnectionOptions(program.command('watch'))
    .description("print the workspace's events as JSON lines as they happen (types as in webhooks, e.g. approval.requested, lock.granted)")
    .option('--events <type>', 'only these event types; "<group>.*" for a group (repeat or separate by commas; default: all)', collect, [])
    .option('--after <seq>', 'start after this audit sequence number (default: from now)', intArg)
    .action(
      action(async (flags: ConnectionFlags & { events: string[]; after?: number }) => {
        const events = flags.events
          .flatMap((text) => text.split(','))
          .map((text) => text.trim())
          .filter(Boolean)
        const subscriptions = events.length > 0 ? events : ['*']
        const problem = checkSubscriptions(subscriptions)
        if (problem) throw new HuddleError('invalid-argument', problem.replace(/^events must/, '--events must'))
        const { workspace } = settings(flags)
        const audit = new Audit(openApi(flags))
        const stop = new AbortController()
        const offSignals = onSignals(() => stop.abort())
        const after = flags.after ?? (await audit.tail(1))[0]?.seq ?? 0
        warn(`watching ${workspace} for ${subscriptions.join(', ')} after audit entry #${after} (Ctrl-C stops)`)
        for await (const entry of audit.follow({ after, signal: stop.signal })) {
          if (!wants(subscriptions, '', entry)) continue
          // the REST entries carry the chain hash too (the activity view leaves it out)
          const { seq, at, actor, data, hash } = entry as typeof entry & { hash?: string }
          process.stdout.write(
            `${JSON.stringify({ id: eventId({ workspace, seq }), type: eventType(entry), workspace, seq, at, actor: actor ?? null, data: data ?? null, hash: hash ?? null })}\n`,
          )
        }
        offSignals()
      }),
    )
}
