// `huddle doc ls|cat|write|edit|watch`: content documents as text from a shell. Writes are the
// fewest Yjs edits from the current text, so people editing the same document keep their work.
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import type { Command } from 'commander'
import { HuddleError } from '../errors.js'
import { action, type ConnectionFlags, onSignals, openApi, openClient, printJson, warn, withConnectionOptions } from './settings.js'

interface DocFlags extends ConnectionFlags {
  type?: string
}

export function registerDocCommands(program: Command): void {
  const doc = program.command('doc').description('read and edit the workspace\'s documents as text (the Y.Text "body" the dashboard edits)')
  const typeOption = (command: Command) => command.option('--type <name>', 'the Y.Text to use (default: body)')

  withConnectionOptions(doc.command('ls'))
    .description('list the documents of the workspace')
    .option('--json', 'print JSON')
    .action(
      action(async (flags: ConnectionFlags & { json?: boolean }) => {
        const documents = await openApi(flags).documents()
        if (flags.json) return printJson(documents)
        process.stdout.write(documents.map((document) => `${document.path}\n`).join(''))
      }),
    )

  typeOption(withConnectionOptions(doc.command('cat')))
    .description("print a document's text")
    .argument('<path>')
    .action(
      action(async (path: string, flags: DocFlags) => {
        const client = await openClient(flags)
        try {
          process.stdout.write(await client.docs.read(path, options(flags)))
        } finally {
          await client.close()
        }
      }),
    )

  typeOption(withConnectionOptions(doc.command('write')))
    .description('make a document read what stdin holds (as the fewest edits): huddle doc write notes.md < notes.md')
    .argument('<path>')
    .action(
      action(async (path: string, flags: DocFlags) => {
        if (process.stdin.isTTY)
          throw new HuddleError('invalid-argument', `doc write reads the new text from stdin: huddle doc write ${path} < FILE (or use huddle doc edit ${path})`)
        const text = await readStdin()
        const client = await openClient(flags)
        try {
          const edits = await client.docs.write(path, text, options(flags))
          warn(edits.length === 0 ? `${path} already reads that` : `wrote ${path}: ${edits.length} edit${edits.length === 1 ? '' : 's'}`)
        } finally {
          await client.close()
        }
      }),
    )

  typeOption(withConnectionOptions(doc.command('edit')))
    .description("edit a document in $VISUAL or $EDITOR; what you save is written as a diff, keeping others' edits made meanwhile")
    .argument('<path>')
    .action(action(async (path: string, flags: DocFlags) => editDocument(path, flags)))

  typeOption(withConnectionOptions(doc.command('watch')))
    .description("print a document's text, then again after every change, until interrupted")
    .argument('<path>')
    .option('--json', 'one JSON line per version: {"path", "text", "at"}')
    .action(
      action(async (path: string, flags: DocFlags & { json?: boolean }) => {
        const client = await openClient(flags)
        const handle = await client.docs.open(path, options(flags))
        const print = (text: string) => {
          if (flags.json) process.stdout.write(`${JSON.stringify({ path, text, at: Date.now() })}\n`)
          else process.stdout.write(`--- ${path} at ${new Date().toISOString()}\n${text}${text.endsWith('\n') || text === '' ? '' : '\n'}`)
        }
        // Ctrl-C is ours before the first text shows: whoever sees it may press it at once.
        const stopped = new Promise<void>((resolve) => {
          const off = onSignals(() => {
            off()
            resolve()
          })
          client.onState((change) => change.state === 'closed' && resolve())
        })
        print(handle.text)
        handle.onChange((change) => print(change.text))
        await stopped
        await client.close()
      }),
    )
}

async function editDocument(path: string, flags: DocFlags): Promise<void> {
  const editor = process.env.VISUAL || process.env.EDITOR
  if (!editor) throw new HuddleError('invalid-argument', `no editor: set $EDITOR (or $VISUAL), e.g. EDITOR=nano huddle doc edit ${path}`)
  const client = await openClient(flags)
  const dir = mkdtempSync(join(tmpdir(), 'huddle-edit-'))
  try {
    const handle = await client.docs.open(path, options(flags))
    const draft = handle.draft()
    const file = join(dir, basename(path))
    writeFileSync(file, draft.text)
    const status = await run(editor, file)
    if (status !== 0) throw new HuddleError('aborted', `${editor} exited with status ${status}; nothing was written`)
    const next = readFileSync(file, 'utf8')
    if (next === draft.text) return warn(`${path}: no change`)
    const edits = draft.commit(next)
    await handle.saved()
    warn(`wrote ${path}: ${edits.length} edit${edits.length === 1 ? '' : 's'}`)
  } finally {
    rmSync(dir, { recursive: true, force: true })
    await client.close()
  }
}

/** Runs the editor through the shell, so EDITOR="code --wait" works. */
function run(editor: string, file: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(`${editor} "$HUDDLE_EDIT_FILE"`, { shell: true, stdio: 'inherit', env: { ...process.env, HUDDLE_EDIT_FILE: file } })
    child.once('error', reject)
    child.once('close', (code) => resolve(code ?? 1))
  })
}

function options(flags: DocFlags): { type?: string } {
  return flags.type ? { type: flags.type } : {}
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}
