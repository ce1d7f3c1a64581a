import type { Backoff } from "../core/backoff.js";
import { delay as abortableDelay } from "../core/delay.js";
import { RosterClientError } from "./roster-client-error.js";

/** What the loop does after an attempt failed. */
export type RetryDecision =
  /** Stop for good: the loop resolves with the error. */
  | { readonly kind: "stop" }
  /** Try again at once on the same node, without advancing the backoff. */
  | { readonly kind: "now" }
  /** Wait the next backoff delay, first moving to the next node when `failover`. */
  | { readonly kind: "wait"; readonly failover: boolean };

/** The node rotation the loop draws from (a RegistryEndpoints, or a fake in tests). */
export interface EndpointRotation<E> {
  current(): E;
  failover(broken: E): void;
}

/** A wait before the next attempt. */
export interface Retry<E> {
  /** Failed attempts in a row, from 1. */
  readonly attempt: number;
  readonly delayMs: number;
  /** The node that failed. */
  readonly endpoint: E;
  readonly error: RosterClientError;
}

/** Options of `runReconnectLoop`. */
export interface ReconnectLoopOptions<E> {
  readonly endpoints: EndpointRotation<E>;
  readonly backoff: Backoff;
  /** Ends the loop: an attempt in progress is expected to end when it aborts, and a wait ends at once. */
  readonly signal: AbortSignal;
  /**
   * One connection's work on `endpoint`, until it fails. Returning counts as
   * a failure too (the registry ended a stream that should not end). Calling
   * `healthy()` says the node proved itself: the next failure starts the
   * backoff over.
   */
  readonly attempt: (endpoint: E, healthy: () => void) => Promise<void>;
  /** What to do about a failure. */
  readonly decide: (error: RosterClientError, endpoint: E) => RetryDecision;
  /** Called before each wait. */
  readonly onRetry?: (retry: Retry<E>) => void;
  /** The abortable wait; tests inject one that records delays instead of sleeping. */
  readonly delay?: (ms: number, signal: AbortSignal) => Promise<void>;
}

/**
 * The one reconnect loop of the SDK, shared by every Registration and every
 * watched service of a ServiceCache: run an attempt on the current node;
 * when it fails, let the owner decide (stop, retry now, or wait with backoff
 * and maybe move to the next node); repeat until `signal` aborts.
 *
 * Resolves with the error that stopped it, or undefined when `signal` aborted.
 *
 * @example
 * await runReconnectLoop({ endpoints, backoff, signal, attempt: watchOnce, decide: () => ({ kind: "wait", failover: true }) });
 */
export async function runReconnectLoop<E>(options: ReconnectLoopOptions<E>): Promise<RosterClientError | undefined> {
  const { endpoints, backoff, signal } = options;
  const wait = options.delay ?? abortableDelay;
  const healthy = () => backoff.reset();
  while (!signal.aborted) {
    const endpoint = endpoints.current();
    let error: RosterClientError;
    try {
      await options.attempt(endpoint, healthy);
      error = new RosterClientError("unavailable", "the registry ended the stream");
    } catch (e) {
      error = RosterClientError.from(e);
    }
    if (signal.aborted) break;
    const decision = options.decide(error, endpoint);
    if (decision.kind === "stop") return error;
    if (decision.kind === "now") continue;
    if (decision.failover) endpoints.failover(endpoint);
    const delayMs = backoff.next();
    options.onRetry?.({ attempt: backoff.attempt, delayMs, endpoint, error });
    await wait(delayMs, signal);
  }
  return undefined;
}
