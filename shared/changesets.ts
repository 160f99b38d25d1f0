// The statuses of a change set (docs/design.md §12, docs/agents.md#change-sets), written once: the
// server records and moves them, the client library reads them, so the two cannot drift apart.

export const CHANGESET_STATUSES = ['pending', 'applied', 'rejected', 'expired', 'cancelled', 'conflict', 'reverted'] as const
export type ChangeSetStatus = (typeof CHANGESET_STATUSES)[number]
