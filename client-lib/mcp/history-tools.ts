// MCP tools for document history: an agent can see who changed a document, what changed between
// versions, who wrote each line, and undo a bad edit by restoring a version.
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js'
import type { CallToolResult, ServerNotification, ServerRequest } from '@modelcontextprotocol/sdk/types.js'
import { z } from 'zod'
import type { Huddle } from '../index.js'

/** registerTools' wrapper: runs with the connected client and turns failures into error results */
export type Guard = <A>(
  run: (args: A, huddle: Huddle) => Promise<unknown>,
) => (args: A, extra: RequestHandlerExtra<ServerRequest, ServerNotification>) => Promise<CallToolResult>

const path = z.string().describe('the document path in the workspace, e.g. notes/plan.md')
const version = z.number().int().min(1).describe('a version id, as document_history lists them')

export function registerHistoryTools(server: McpServer, guard: Guard): void {
  const readOnly = { readOnlyHint: true }

  server.registerTool(
    'document_history',
    {
      description: 'List the versions of a document, newest first: id, time, label, and who changed it (humans and agents) since the version before.',
      inputSchema: { path },
      annotations: readOnly,
    },
    guard(async (args: { path: string }, huddle) => ({ versions: await huddle.docs.history(args.path) })),
  )

  server.registerTool(
    'document_diff',
    {
      description:
        'Show what changed in a document between two versions, or between a version and now: a unified diff of its text and a list of changes with who made each.',
      inputSchema: {
        path,
        from: version.optional().describe('the older version (default: the latest version)'),
        to: version.optional().describe('the newer version (default: the document as it is now)'),
      },
      annotations: readOnly,
    },
    guard(async (args: { path: string; from?: number; to?: number }, huddle) =>
      huddle.docs.diff(args.path, { ...(args.from ? { from: args.from } : {}), ...(args.to ? { to: args.to } : {}) }),
    ),
  )

  server.registerTool(
    'document_blame',
    {
      description: "For each line of a document's text: who last wrote it (person or agent), when, and in which version.",
      inputSchema: { path, name: z.string().optional().describe('the text within the document (default body)') },
      annotations: readOnly,
    },
    guard(async (args: { path: string; name?: string }, huddle) => ({ lines: await huddle.docs.blame(args.path, args.name ? { name: args.name } : {}) })),
  )

  server.registerTool(
    'revert_document',
    {
      description:
        'Restore a document to an earlier version, as a new change by you that everyone sees live (a version of the current state is kept first, so this can be undone by reverting again). Needs role editor.',
      inputSchema: { path, version },
    },
    guard(async (args: { path: string; version: number }, huddle) => {
      const after = await huddle.docs.revert(args.path, args.version)
      return {
        version: after,
        message: `${args.path} now holds version ${args.version} again; version ${after} records that. To undo: revert_document {"path": "${args.path}", "version": ${after - 1}}`,
      }
    }),
  )
}
