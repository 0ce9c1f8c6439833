/** Reconnect delays: exponential with jitter (docs/protocol.md "Client loop", step 6). */
export interface BackoffOptions {
  /** The first delay's upper bound in ms (default 500). */
  initialMs?: number;
  /** The largest delay in ms (default 30000). */
  maxMs?: number;
  /** Growth per attempt (default 2). */
  factor?: number;
  /** A connection that stayed up this long resets the attempts (default 60000). */
  resetAfterMs?: number;
}

export interface ResolvedBackoff {
  initialMs: number;
  maxMs: number;
  factor: number;
  resetAfterMs: number;
}

export function resolveBackoff(o: BackoffOptions = {}): ResolvedBackoff {
  return {
    initialMs: o.initialMs ?? 500,
    maxMs: o.maxMs ?? 30_000,
    factor: o.factor ?? 2,
    resetAfterMs: o.resetAfterMs ?? 60_000,
  };
}

/**
 * The delay before reconnect attempt `attempt` (0-based): the ceiling
 * `min(maxMs, initialMs * factor^attempt)`, jittered uniformly in its upper half, so that
 * many clients dropped at once (a server restart) do not come back in lockstep.
 */
export function backoffDelay(attempt: number, o: ResolvedBackoff, random: () => number = Math.random): number {
  const ceiling = Math.min(o.maxMs, o.initialMs * Math.pow(o.factor, Math.max(0, attempt)));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}
