// The MCP tools on documents: list, read, write (whole text, applied as the fewest edits), edit
// (search/replace, the way coding agents edit files) and watch (a long poll: an MCP tool call is
// one request and one answer, so "watch" waits for the next change and returns it).
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js'
import type { CallToolResult, ServerNotification, ServerRequest } from '@modelcontextprotocol/sdk/types.js'
import { z } from 'zod'
import { parseDuration } from '../../shared/duration.js'
import { HuddleError } from '../errors.js'
import type { Huddle } from '../index.js'

type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>
/** tools.ts's wrapper: connects, runs, and turns a failure into an error result */
export type Guard = <A>(run: (args: A, huddle: Huddle, extra: Extra) => Promise<unknown>) => (args: A, extra: Extra) => Promise<CallToolResult>

const DEFAULT_WATCH = '50s'
const path = z.string().describe('the document path in the workspace, e.g. "notes/plan.md" (list_documents shows them)')
const type = z.string().optional().describe('the Y.Text to use (default "body", what the dashboard editor shows)')

export interface Replacement {
  old_string: string
  new_string: string
  replace_all?: boolean
}

/** Applies search/replace edits in order; each `old_string` must occur exactly once unless `replace_all`. */
export function applyReplacements(text: string, edits: Replacement[], where: string): string {
  return edits.reduce((current, edit, index) => {
    const which = edits.length > 1 ? `edit ${index + 1}: ` : ''
    if (edit.old_string === '') throw new HuddleError('invalid-argument', `${which}old_string is empty; to write a whole text use write_document`)
    const count = current.split(edit.old_string).length - 1
    if (count === 0)
      throw new HuddleError(
        'invalid-argument',
        `${which}old_string was not found in ${where}; read_document to see its current text (it may have changed), then copy the text exactly`,
      )
    if (count > 1 && !edit.replace_all)
      throw new HuddleError(
        'invalid-argument',
        `${which}old_string occurs ${count} times in ${where}; add surrounding text to make it unique, or set replace_all`,
      )
    return current.split(edit.old_string).join(edit.new_string)
  }, text)
}

export function registerDocumentTools(server: McpServer, guard: Guard): void {
  server.registerTool(
    'list_documents',
    {
      description: 'List the documents of the workspace (their paths).',
      inputSchema: {},
      annotations: { readOnlyHint: true },
    },
    guard(async (_args, huddle) => ({ documents: await huddle.docs.list() })),
  )

  server.registerTool(
    'read_document',
    {
      description: "Read a document's current text.",
      inputSchema: { path, type },
      annotations: { readOnlyHint: true },
    },
    guard(async (args, huddle) => {
      const text = await huddle.docs.read(args.path, opts(args.type))
      return { path: args.path, text, length: text.length }
    }),
  )

  server.registerTool(
    'write_document',
    {
      description:
        "Replace a document's whole text. Applied as the fewest edits, so people editing other parts keep their work; creates the document if needed. Prefer edit_document for small changes. Refused while someone else holds the lock doc:<path>.",
      inputSchema: { path, text: z.string().describe('the complete new text'), type },
    },
    guard(async (args, huddle) => {
      const edits = await huddle.docs.write(args.path, args.text, opts(args.type))
      return { path: args.path, edits: edits.length, length: args.text.length }
    }),
  )

  server.registerTool(
    'edit_document',
    {
      description:
        'Edit a document by exact search and replace, like editing a file: each old_string must occur exactly once (or set replace_all). Edits apply in order, to the text as it is on the server now. Refused while someone else holds the lock doc:<path>.',
      inputSchema: {
        path,
        edits: z
          .array(
            z.object({
              old_string: z.string().describe('text to find, exactly as in the document (include enough context to be unique)'),
              new_string: z.string().describe('what replaces it'),
              replace_all: z.boolean().optional().describe('replace every occurrence (default false)'),
            }),
          )
          .min(1),
        type,
      },
    },
    guard(async (args, huddle) => {
      const handle = await huddle.docs.open(args.path, opts(args.type))
      try {
        const next = applyReplacements(handle.text, args.edits, args.path)
        const edits = handle.replace(next)
        await handle.saved()
        return { path: args.path, edits: edits.length, length: next.length }
      } finally {
        handle.close()
      }
    }),
  )

  server.registerTool(
    'watch_document',
    {
      description: `Wait up to \`timeout\` (default ${DEFAULT_WATCH}) for a document to change and return its new text; pass the text you last saw as \`since\` to be told at once if it already differs. Returns changed: false on timeout (call again).`,
      inputSchema: {
        path,
        since: z.string().optional().describe('the text you last saw (default: the text when the call starts)'),
        timeout: z.string().optional().describe('a duration such as 30s (at most 50s is safe: MCP clients time out at 60s)'),
        type,
      },
      annotations: { readOnlyHint: true },
    },
    guard(async (args, huddle, extra) => {
      const handle = await huddle.docs.open(args.path, opts(args.type))
      try {
        const since = args.since ?? handle.text
        const timeoutMs = parseTimeout(args.timeout ?? DEFAULT_WATCH)
        const changed =
          handle.text !== since ||
          (await new Promise<boolean>((resolve) => {
            const done = (value: boolean) => {
              clearTimeout(timer)
              off()
              extra.signal.removeEventListener('abort', onAbort)
              resolve(value)
            }
            const onAbort = () => done(false)
            const timer = setTimeout(() => done(false), timeoutMs)
            const off = handle.onChange((change) => change.text !== since && done(true))
            extra.signal.addEventListener('abort', onAbort)
          }))
        return { path: args.path, changed, text: handle.text }
      } finally {
        handle.close()
      }
    }),
  )
}

function opts(type: string | undefined): { type?: string } {
  return type ? { type } : {}
}

function parseTimeout(text: string): number {
  try {
    return parseDuration(text)
  } catch (error) {
    throw new HuddleError('invalid-argument', `timeout: ${(error as Error).message}`)
  }
}
