// `huddle mcp` as an agent host runs it: the MCP SDK's client over stdio, and a tool call's single
// text result read as text and JSON.
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js'
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js'
import { HUDDLE_BIN, ROOT, type ServerLike } from './server.js'

/** `huddle mcp` driven by the MCP SDK's client over stdio, as an agent host runs it, signed in with `token`. */
export async function startMcp(server: ServerLike, workspace: string, token: string): Promise<Client> {
  const env = { ...(process.env as Record<string, string>), HUDDLE_URL: server.httpUrl, HUDDLE_WORKSPACE: workspace, HUDDLE_TOKEN: token }
  const client = new Client({ name: 'huddle-test', version: '1.0.0' })
  await client.connect(new StdioClientTransport({ command: process.execPath, args: [HUDDLE_BIN, 'mcp'], env, cwd: ROOT, stderr: 'pipe' }))
  return client
}

export interface ToolResult {
  ok: boolean
  text: string
  /** the result parsed as JSON; {} for a plain-text result (errors are plain text) */
  json: Record<string, unknown>
}

/** Calls an MCP tool and reads its single text result. */
export async function callTool(client: Client, name: string, args: Record<string, unknown> = {}): Promise<ToolResult> {
  const result = (await client.callTool({ name, arguments: args })) as CallToolResult
  const text = (result.content[0] as { text: string }).text
  let json: Record<string, unknown> = {}
  try {
    json = JSON.parse(text)
  } catch {
    // error results are plain text
  }
  return { ok: !result.isError, text, json }
}
