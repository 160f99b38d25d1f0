// Marks a connection or a REST call that one node relays to another: the header names the
// relaying node and carries a proof made with the cluster's secret. A client that sends the
// header itself is served as the client it is; unsigned, it could pose as a relaying node — steer
// rebalancing towards a node that does not exist (whose lease would then be kept from everyone),
// or be served by a node that does not own its workspace.
import { createHmac, timingSafeEqual } from 'node:crypto'
import type { IncomingMessage } from 'node:http'

export const RELAY_HEADER = 'x-huddle-relayed-by'
const PROOF_HEADER = 'x-huddle-relay-proof'

export class RelayProof {
  constructor(private readonly key: Uint8Array) {}

  /** The headers a node adds to what it relays. */
  headers(nodeId: string): Record<string, string> {
    return { [RELAY_HEADER]: nodeId, [PROOF_HEADER]: this.sign(nodeId) }
  }

  /** The node that relayed `request`, if another node of the cluster did; null for a client. */
  relayedBy(request: IncomingMessage): string | null {
    const node = request.headers[RELAY_HEADER]
    const proof = request.headers[PROOF_HEADER]
    if (typeof node !== 'string' || typeof proof !== 'string') return null
    const expected = Buffer.from(this.sign(node))
    const given = Buffer.from(proof)
    return given.length === expected.length && timingSafeEqual(given, expected) ? node : null
  }

  private sign(nodeId: string): string {
    return createHmac('sha256', this.key).update(`huddle relay\n${nodeId}`).digest('base64url')
  }
}
