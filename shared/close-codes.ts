// WebSocket close codes of docs/design.md §7. Every refusal carries one of these and a reason.
export const CloseCode = {
  shuttingDown: 1001,
  internalError: 1011,
  /** a client that does not read what it is sent (docs/design.md §7) */
  tryAgainLater: 1013,
  malformed: 4400,
  unauthorized: 4401,
  forbidden: 4403,
  tooLarge: 4413,
  rateLimited: 4429,
} as const
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode]
