// `huddle propose "title" PATH=FILE...` and `huddle changesets [ID]`: change sets from a shell.
// The CLI sends no session, so locks held by the same actor (say, the agent's own library
// client) do not stop its change sets; locks held by anyone else do.
import { readFileSync } from 'node:fs'
import type { Command } from 'commander'
import { InvalidArgumentError } from 'commander'
import { type ChangeSetInfo, ChangeSets } from '../changesets.js'
import { action, collect, type ConnectionFlags, intArg, openApi, printJson, table, withConnectionOptions } from './settings.js'

interface ProposeFlags extends ConnectionFlags {
  approval?: boolean
  quorum?: number
  approver: string[]
  wait?: boolean
  json?: boolean
}

interface ShowFlags extends ConnectionFlags {
  apply?: boolean
  cancel?: boolean
  revert?: boolean
  json?: boolean
}

export function registerChangeSetCommands(program: Command): void {
  withConnectionOptions(program.command('propose'))
    .description('propose new text for several documents as one change set, applied all at once (with --approval once a human approves)')
    .argument('<title>', 'what the change does')
    .argument('<changes...>', 'PATH=FILE: the document and the file with its new text (e.g. notes/plan.md=plan.md)')
    .option('--approval', 'ask for an approval; the server applies the change set once it is approved')
    .option('--quorum <n>', 'approvals needed (implies --approval)', intArg)
    .option('--approver <actor-or-role>', 'who may approve (repeatable; implies --approval)', collect, [])
    .option('--wait', 'wait for the final status; exit 0 only if it was applied')
    .option('--json', 'print JSON')
    .action(
      action(async (title: string, changes: string[], flags: ProposeFlags) => {
        const changesets = new ChangeSets(openApi(flags))
        const docs = Object.fromEntries(changes.map(readChange))
        const wantsApproval = flags.approval || flags.quorum !== undefined || flags.approver.length > 0
        const approval = wantsApproval
          ? { ...(flags.quorum !== undefined ? { quorum: flags.quorum } : {}), ...(flags.approver.length ? { approvers: flags.approver } : {}) }
          : undefined
        const proposed = await changesets.propose({ title, docs, ...(approval ? { approval } : {}) })
        if (!flags.wait || proposed.status !== 'pending') {
          print(flags, proposed, `change set ${proposed.id}: ${proposed.status}${proposed.reason ? ` (${proposed.reason})` : ''}`)
          return proposed.status === 'conflict' ? 1 : 0
        }
        if (!flags.json) process.stderr.write(`change set ${proposed.id}: pending; waiting for ${approval ? 'its approval' : 'someone to apply it'}…\n`)
        const final = await changesets.wait(proposed.id)
        print(flags, final, summary(final))
        return final.status === 'applied' ? 0 : 1
      }),
    )

  withConnectionOptions(program.command('changesets'))
    .description("list the workspace's change sets, or show one with its diff (and apply, cancel or revert it)")
    .argument('[id]', 'a change set id')
    .option('--apply', 'apply it (only one without an approval; editor)')
    .option('--cancel', 'cancel it (its proposer)')
    .option('--revert', 'take an applied change set out of its documents again (editor)')
    .option('--json', 'print JSON')
    .action(
      action(async (id: string | undefined, flags: ShowFlags) => {
        const changesets = new ChangeSets(openApi(flags))
        if (id === undefined) {
          if (flags.apply || flags.cancel || flags.revert) throw new InvalidArgumentError('name the change set: huddle changesets ID --apply')
          const list = await changesets.list()
          if (flags.json) return printJson({ changesets: list })
          const rows = list.map((info) => [info.id, info.status, info.proposer.actor, Object.keys(info.docs).join(' '), info.title])
          process.stdout.write(list.length ? table(['ID', 'STATUS', 'BY', 'DOCUMENTS', 'TITLE'], rows) : 'no change sets\n')
          return
        }
        const run = flags.apply ? changesets.apply : flags.cancel ? changesets.cancel : flags.revert ? changesets.revert : changesets.get
        const info = await run.call(changesets, id)
        const patches = Object.entries(info.docs).map(([, doc]) => doc.patch?.trimEnd() ?? '')
        print(flags, info, [summary(info), ...patches].join('\n'))
      }),
    )
}

function readChange(spec: string): [string, string] {
  const equals = spec.indexOf('=')
  if (equals <= 0 || equals === spec.length - 1)
    throw new InvalidArgumentError(`${JSON.stringify(spec)} is not PATH=FILE: write the document path, '=', and the file holding its new text`)
  const file = spec.slice(equals + 1)
  try {
    return [spec.slice(0, equals), readFileSync(file, 'utf8')]
  } catch (error) {
    throw new InvalidArgumentError(`cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}) for ${spec.slice(0, equals)}`)
  }
}

function summary(info: ChangeSetInfo): string {
  const moved = info.moved?.length ? `; changed since the proposal (merged): ${info.moved.join(', ')}` : ''
  const reason = info.reason ? ` (${info.reason})` : ''
  return `change set ${info.id} "${info.title}": ${info.status}${reason}${moved}`
}

function print(flags: { json?: boolean }, json: unknown, text: string): void {
  if (flags.json) printJson(json)
  else process.stdout.write(`${text}\n`)
}
