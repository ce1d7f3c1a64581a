import { createHash } from "node:crypto";

/**
 * The 64-bit score of `node` for `checkId`: the first 8 bytes of
 * sha1(node NUL checkId). sha1 is not here for security but because every
 * node, in any process, must compute the same number for the same pair.
 */
export function rendezvousScore(node: string, checkId: string): bigint {
  return createHash("sha1").update(node).update("\0").update(checkId).digest().readBigUInt64BE(0);
}

/**
 * The node that owns `checkId` among `nodes` (rendezvous, or highest random
 * weight, hashing): the one with the highest score, ties broken by the lower
 * node id. Adding a node moves only the checks it now wins, about 1/N of them,
 * and removing one moves only its own (plain modulo hashing moves most checks
 * on every change of N, alibaba/nacos#7242). Undefined for no nodes.
 *
 * @example
 * owner("default/api/a#http", ["n1", "n2", "n3"]) // the same node on every node
 */
export function owner(checkId: string, nodes: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestScore = -1n;
  for (const node of nodes) {
    const score = rendezvousScore(node, checkId);
    if (score > bestScore || (score === bestScore && best !== undefined && node < best)) {
      best = node;
      bestScore = score;
    }
  }
  return best;
}
