// `huddle audit [--follow]`: the workspace's audit log, read over REST (no session needed).
import type { Command } from 'commander'
import type { AuditEntry } from '../api.js'
import { Audit } from '../audit.js'
import { action, type ConnectionFlags, intArg, onSignals, openApi, withConnectionOptions } from './settings.js'

interface AuditFlags extends ConnectionFlags {
  follow?: boolean
  after?: number
  limit: number
  json?: boolean
}

/** Fields worth a glance, in the order they are shown. */
const SUMMARY_FIELDS = ['resources', 'mode', 'token', 'title', 'action', 'decision', 'state', 'by', 'reason', 'kind', 'role', 'key'] as const

export function registerAuditCommand(program: Command): void {
  withConnectionOptions(program.command('audit'))
    .description('print the audit log (the last --limit entries, or those after --after); --follow keeps printing new ones')
    .option('--follow', 'keep printing entries as they are written (Ctrl-C stops)')
    .option('--after <seq>', 'start after this sequence number', intArg)
    .option('--limit <n>', 'how many entries to print first (default 20)', intArg, 20)
    .option('--json', 'print one JSON object per line')
    .action(
      action(async (flags: AuditFlags) => {
        const audit = new Audit(openApi(flags))
        const print = (entry: AuditEntry) => process.stdout.write(flags.json ? `${JSON.stringify(entry)}\n` : `${formatEntry(entry)}\n`)
        const first =
          flags.after === undefined
            ? await audit.tail(flags.limit)
            : flags.limit > 0
              ? await audit.read({ after: flags.after, limit: Math.min(flags.limit, 1000) })
              : []
        const stop = new AbortController()
        // Ctrl-C is ours before the first entry shows: whoever sees it may press it at once.
        const offSignals = flags.follow ? onSignals(() => stop.abort()) : () => undefined
        first.forEach(print)
        if (!flags.follow) return
        const after = first.length ? first[first.length - 1]!.seq : (flags.after ?? (await audit.tail(1))[0]?.seq ?? 0)
        for await (const entry of audit.follow({ after, signal: stop.signal })) print(entry)
        offSignals()
      }),
    )
}

export function formatEntry(entry: AuditEntry): string {
  const data = entry.data ?? {}
  const summary = SUMMARY_FIELDS.filter((field) => data[field] !== undefined).map((field) => `${field}=${auditValue(data[field])}`)
  if (entry.type === 'refused') {
    const write = data.write as { type: string; key: string; subKey?: string } | undefined
    if (write) summary.push(`write=${write.type}${write.key ? `[${write.key}]` : ''}${write.subKey ? `.${write.subKey}` : ''}`)
  }
  const who = entry.actor ? `${entry.actor}${entry.session ? `/${entry.session.slice(0, 8)}` : ''}` : '-'
  return `#${entry.seq}  ${new Date(entry.at).toISOString()}  ${entry.type.padEnd(11)}  ${who}  ${summary.join(' ')}`.trimEnd()
}

function auditValue(value: unknown): string {
  if (Array.isArray(value)) return value.join(',')
  return typeof value === 'string' && !/\s/.test(value) ? value : JSON.stringify(value)
}
