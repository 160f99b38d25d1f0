// `huddle mcp`: a Model Context Protocol server over stdio. It holds one Huddle session for its
// whole life, so the locks it takes belong to that session and are released when it ends (stdin
// closes or a signal arrives); after a crash the server's lease grace period releases them.
import { readFileSync } from 'node:fs'
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js'
import type { Huddle } from '../index.js'
import { connect } from '../node.js'
import { type ConnectionFlags, settings } from '../cli/settings.js'
import { registerTools } from './tools.js'

const { version } = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }

export async function runMcpServer(flags: ConnectionFlags): Promise<void> {
  // Connect in the background: a missing or bad token or an unreachable server then reaches the
  // agent as each tool's error message, which it can report, instead of a server that died at start.
  const huddle = Promise.resolve().then(() => connect(settings(flags)))
  let connected: Huddle | null = null
  huddle.then(
    (client) => (connected = client),
    (error: Error) => process.stderr.write(`huddle mcp: ${error.message}\n`),
  )
  const server = new McpServer({ name: 'huddle', version }, { instructions: INSTRUCTIONS })
  registerTools(server, () => huddle)
  await server.connect(new StdioServerTransport())
  let ending = false
  const end = async () => {
    if (ending) return
    ending = true
    await connected?.close()
    await server.close()
    process.exit(0)
  }
  process.stdin.once('end', end)
  process.stdin.once('close', end)
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(signal, end)
}

const INSTRUCTIONS =
  "Coordination with the humans and other agents of a Huddle workspace. Take a lock (acquire_lock) before changing a shared resource and release it when done; pass the fencing token to what the lock protects. Ask for approval (request_approval, then await_approval) before risky actions and act only once it is approved. Tell others what you do with set_presence. Read and change the workspace's documents with read_document, edit_document and write_document; lock doc:<path> first to keep others from editing it meanwhile."
