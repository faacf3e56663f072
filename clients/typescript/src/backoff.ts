/** Reconnect delays: exponential backoff with full jitter ("Exponential Backoff And Jitter", AWS architecture blog). */
export interface BackoffOptions {
  /** Upper bound of the first delay, in ms. */
  initialDelay: number;
  /** Upper bound no delay exceeds, in ms (before `minDelay` is added). */
  maxDelay: number;
  /** Growth of the upper bound per failed attempt. */
  multiplier: number;
  /** Added to every delay, in ms: a floor no jitter goes under. */
  minDelay: number;
}

/** Ordinary drops (1001 shutdown or ping timeout, 1013 slow consumer, 1006 network, refused handshakes). */
export const DEFAULT_BACKOFF: BackoffOptions = { initialDelay: 500, maxDelay: 30_000, multiplier: 2, minDelay: 0 };

/** Close 1008 (connection or rate limit): the server is full or the client misbehaved, so come back later. */
export const DEFAULT_POLICY_BACKOFF: BackoffOptions = { initialDelay: 5_000, maxDelay: 120_000, multiplier: 2, minDelay: 5_000 };

/**
 * The delay before reconnect attempt `attempt` (0 for the first one after a drop):
 * `minDelay + random() * min(maxDelay, initialDelay * multiplier^attempt)`.
 * Full jitter spreads clients dropped at the same moment evenly over the whole window, so they do not
 * come back in one burst.
 */
export function backoffDelay(attempt: number, options: BackoffOptions, random: () => number = Math.random): number {
  const n = Math.max(0, Math.floor(attempt));
  const ceiling = Math.min(options.maxDelay, options.initialDelay * Math.pow(options.multiplier, n));
  let r = random();
  if (!(r >= 0)) r = 0;
  if (r >= 1) r = 0.999999999;
  return Math.round(options.minDelay + r * ceiling);
}

/** A small seeded pseudo-random generator (mulberry32) returning numbers in [0, 1): for tests and simulations. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
