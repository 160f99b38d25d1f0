// Rebalancing: a workspace owned here whose clients have all come through one other node for a
// whole lease period moves to that node (the one relaying most, if several), which then serves them
// without the extra hop. The owner counts the client sockets it serves per workspace by the node
// that relays them ('' for a client connected directly); node.ts does the handing over.

export class Rebalancer {
  /** open client sockets served here, per workspace, by the node that relays them */
  private readonly clients = new Map<string, Map<string, number>>()
  /** since when a workspace owned here has had relayed clients only */
  private readonly onlyRelayed = new Map<string, number>()
  private readonly timer: NodeJS.Timeout

  constructor(
    private readonly owned: () => string[],
    private readonly handOver: (workspace: string, to: string) => void,
    private readonly afterMs: number,
  ) {
    this.timer = setInterval(() => this.check(), Math.max(100, Math.floor(afterMs / 2)))
    this.timer.unref()
  }

  /** A client socket of `workspace` served here, relayed by node `via` ('' when direct). */
  count(workspace: string, via: string, socket: { once(event: 'close', listener: () => void): unknown }): void {
    const counts = this.clients.get(workspace) ?? new Map<string, number>()
    this.clients.set(workspace, counts)
    counts.set(via, (counts.get(via) ?? 0) + 1)
    socket.once('close', () => {
      const left = (counts.get(via) ?? 1) - 1
      if (left > 0) counts.set(via, left)
      else counts.delete(via)
      if (counts.size === 0 && this.clients.get(workspace) === counts) this.clients.delete(workspace)
    })
  }

  stop(): void {
    clearInterval(this.timer)
  }

  private check(): void {
    const now = Date.now()
    for (const workspace of this.owned()) {
      const target = relayingMost(this.clients.get(workspace))
      if (!target) {
        this.onlyRelayed.delete(workspace)
        continue
      }
      const since = this.onlyRelayed.get(workspace) ?? now
      this.onlyRelayed.set(workspace, since)
      if (now - since < this.afterMs) continue
      this.onlyRelayed.delete(workspace)
      this.handOver(workspace, target)
    }
  }
}

/** The node that relays the most of a workspace's clients, if none connected directly. */
function relayingMost(counts: Map<string, number> | undefined): string | null {
  if (!counts || counts.has('')) return null
  let best: string | null = null
  let most = 0
  for (const [node, count] of counts) {
    if (count > most) [best, most] = [node, count]
  }
  return best
}
