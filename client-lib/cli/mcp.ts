// `huddle mcp`: the MCP server for AI agents, over stdio.
import type { Command } from 'commander'
import { runMcpServer } from '../mcp/server.js'
import { type ConnectionFlags, withConnectionOptions, withLeaseGraceOption } from './settings.js'

export function registerMcpCommand(program: Command): void {
  withLeaseGraceOption(withConnectionOptions(program.command('mcp')))
    .description('run a Model Context Protocol server on stdio with lock, approval and presence tools for AI agents')
    .action((flags: ConnectionFlags) => runMcpServer(flags))
}
