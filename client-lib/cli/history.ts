// `huddle history|diff|blame|revert PATH`: a document's versions, what changed, who wrote each
// line, and restoring a version.
import type { Command } from 'commander'
import { InvalidArgumentError } from 'commander'
import type { BlameLine, VersionInfo } from '../history.js'
import { action, type ConnectionFlags, openApi, withConnectionOptions } from './settings.js'
import { DocumentHistory } from '../history.js'

interface JsonFlag extends ConnectionFlags {
  json?: boolean
}

export function registerHistoryCommands(program: Command): void {
  const docs = (flags: ConnectionFlags) => new DocumentHistory(openApi(flags))

  withConnectionOptions(program.command('history'))
    .description('list the versions of a document, newest first, with who changed it since the version before')
    .argument('<path>', 'the document, e.g. notes/plan.md')
    .option('--label <text>', 'take a version now with this label instead of listing')
    .option('--json', 'print JSON')
    .action(
      action(async (path: string, flags: JsonFlag & { label?: string }) => {
        if (flags.label !== undefined) {
          const id = await docs(flags).label(path, flags.label)
          return print(flags, { id }, `version ${id} "${flags.label}"`)
        }
        const versions = await docs(flags).history(path)
        print(flags, { versions }, versions.length ? versions.map(versionLine).join('\n') : `${path} has no versions yet`)
      }),
    )

  withConnectionOptions(program.command('diff'))
    .description('show what changed in a document between two versions (default: the latest version and now)')
    .argument('<path>', 'the document')
    .option('--from <version>', 'the older version (default: the latest)', point)
    .option('--to <version>', 'the newer version or "current" (default)', point)
    .option('--json', 'print JSON')
    .action(
      action(async (path: string, flags: JsonFlag & { from?: number | 'current'; to?: number | 'current' }) => {
        const diff = await docs(flags).diff(path, {
          ...(flags.from !== undefined ? { from: flags.from } : {}),
          ...(flags.to !== undefined ? { to: flags.to } : {}),
        })
        const others = diff.changes.filter((change) => change.kind !== 'text' && change.kind !== 'xml')
        const summary = others.map(
          (c) =>
            `${c.op} ${c.name}${c.key !== undefined ? `.${c.key}` : c.index !== undefined ? `[${c.index}]` : ''}${c.actors.length ? ` by ${c.actors.join(', ')}` : ''}`,
        )
        print(flags, diff, [diff.patch.trimEnd(), ...summary].filter(Boolean).join('\n') || `no changes from ${diff.from} to ${diff.to}`)
      }),
    )

  withConnectionOptions(program.command('blame'))
    .description('show who last wrote each line of a document, when, and in which version')
    .argument('<path>', 'the document')
    .option('--name <text>', 'the text within the document (default body)')
    .option('--json', 'print JSON')
    .action(
      action(async (path: string, flags: JsonFlag & { name?: string }) => {
        const lines = await docs(flags).blame(path, flags.name ? { name: flags.name } : {})
        print(flags, { lines }, lines.map(blameLine).join('\n'))
      }),
    )

  withConnectionOptions(program.command('revert'))
    .description('restore a document to a version, as a new change everyone sees live (editor); revert again to undo')
    .argument('<path>', 'the document')
    .argument('<version>', 'the version id (see huddle history)', point)
    .option('--json', 'print JSON')
    .action(
      action(async (path: string, version: number | 'current', flags: JsonFlag) => {
        if (version === 'current') throw new InvalidArgumentError('name a version id to restore (see huddle history)')
        const after = await docs(flags).revert(path, version)
        print(flags, { version: after, restored: version }, `${path} holds version ${version} again (recorded as version ${after})`)
      }),
    )
}

function print(flags: JsonFlag, json: unknown, text: string): void {
  process.stdout.write(flags.json ? `${JSON.stringify(json, null, 2)}\n` : `${text}\n`)
}

function versionLine(version: VersionInfo): string {
  const who = version.actors.map((actor) => `${actor.name}${actor.kind === 'agent' ? ' (agent)' : ''}`).join(', ') || '-'
  const label = version.label ? ` "${version.label}"` : ''
  return `${String(version.id).padStart(4)}  ${new Date(version.at).toISOString()}  ${version.reason.padEnd(13)} ${who}${label}`
}

function blameLine(line: BlameLine): string {
  const who = (line.name ?? line.actor ?? '?').slice(0, 12).padEnd(12)
  const when = line.at ? new Date(line.at).toISOString().slice(0, 19) : ' '.repeat(19)
  const version = line.version === null ? 'now' : `v${line.version}`
  return `${who} ${when} ${version.padStart(5)} | ${line.text}`
}

function point(text: string): number | 'current' {
  if (text === 'current') return text
  const value = Number(text)
  if (!Number.isInteger(value) || value < 1)
    throw new InvalidArgumentError(`${JSON.stringify(text)} is not a version id: a whole number from \`huddle history PATH\``)
  return value
}
