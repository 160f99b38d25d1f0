// Client commands of the `huddle` CLI (locks, approvals, presence, audit, MCP).
import type { Command } from 'commander'

export function registerClientCommands(_program: Command): void {}
