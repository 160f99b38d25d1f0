// Client commands of the `huddle` CLI (locks, approvals, presence, audit, documents, change sets, MCP, token revocation).
import type { Command } from 'commander'
import { registerApprovalCommands } from './approvals.js'
import { registerAuditCommand } from './audit.js'
import { registerChangeSetCommands } from './changesets.js'
import { registerDocCommands } from './docs.js'
import { registerInboxCommands } from './inbox.js'
import { registerHistoryCommands } from './history.js'
import { registerLockCommands } from './locks.js'
import { registerMcpCommand } from './mcp.js'
import { registerTokenCommands } from './tokens.js'
import { registerWhoCommand } from './who.js'

export function registerClientCommands(program: Command): void {
  registerLockCommands(program)
  registerApprovalCommands(program)
  registerWhoCommand(program)
  registerAuditCommand(program)
  registerDocCommands(program)
  registerMcpCommand(program)
  registerTokenCommands(program)
  registerInboxCommands(program)
  registerHistoryCommands(program)
  registerChangeSetCommands(program)
}
