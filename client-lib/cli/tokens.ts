// `huddle revoke-token`: an admin revokes a token of the workspace (a leaked one, or one of someone
// who left); `huddle token` mints them, offline, from the server's secret.
import type { Command } from 'commander'
import { action, type ConnectionFlags, openApi, withConnectionOptions } from './settings.js'

export function registerTokenCommands(program: Command): void {
  withConnectionOptions(program.command('revoke-token'))
    .description('revoke a token of the workspace (admin): it is refused from then on, and its live connections close within a second')
    .argument('<jwt>', 'the token to revoke (not your own --token, which must be an admin token)')
    .action(
      action(async (jwt: string, flags: ConnectionFlags) => {
        const revoked = await openApi(flags).revokeToken(jwt)
        process.stdout.write(revoked ? 'revoked\n' : 'that token was revoked already\n')
      }),
    )
}
