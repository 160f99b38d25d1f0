// `huddle who`: who is online in the workspace, humans and agents, and what they are doing.
import type { Command } from 'commander'
import { formatDuration } from '../describe.js'
import type { OnlineMember } from '../presence.js'
import { action, type ConnectionFlags, openClient, printJson, table, withConnectionOptions } from './settings.js'

export function registerWhoCommand(program: Command): void {
  withConnectionOptions(program.command('who'))
    .description('list who is online in the workspace (humans and agents) and what they are doing')
    .option('--json', 'print JSON')
    .action(
      action(async (flags: ConnectionFlags & { json?: boolean }) => {
        const client = await openClient(flags)
        let members: OnlineMember[]
        try {
          members = withoutSession(client.presence.list(), client.session)
        } finally {
          await client.close()
        }
        if (flags.json) return printJson(members)
        if (members.length === 0) return void process.stdout.write('nobody else is online\n')
        const now = Date.now()
        const rows = members.map((m) => [
          m.actor,
          m.name,
          m.kind,
          m.role,
          m.status ?? '-',
          m.activity ?? '-',
          m.viewing ?? '-',
          formatDuration(now - m.connectedAt),
        ])
        process.stdout.write(table(['ACTOR', 'NAME', 'KIND', 'ROLE', 'STATUS', 'ACTIVITY', 'VIEWING', 'ONLINE FOR'], rows))
      }),
    )
}

/** This command's own connection is not someone online. */
function withoutSession(members: OnlineMember[], session: string): OnlineMember[] {
  return members.map((member) => ({ ...member, sessions: member.sessions.filter((s) => s !== session) })).filter((member) => member.sessions.length > 0)
}
