/**
 * Login rate limiting, in memory (one `kadi serve` process). Two sliding windows of failed attempts:
 * - per user name + client address: `maxFailures` (default 5) in `windowMs` (default 15 min);
 * - per client address over all names: `maxFailuresPerIp` (default 50) in the same window (name spraying).
 * When a key is over its limit, every login attempt for it is refused with 429 AUTH_RATE_LIMITED and a
 * Retry-After header, even with the right password, until the oldest failure leaves the window. A successful
 * login clears the user+address window. Memory is bounded: at most `maxKeys` keys (oldest dropped first).
 */
export interface RateLimitOptions {
  /** Failed logins allowed per user name and client address within the window (default 5). */
  maxFailures: number;
  /** Failed logins allowed per client address within the window, all names together (default 50). */
  maxFailuresPerIp: number;
  /** Window length in milliseconds (default 900000 = 15 min). */
  windowMs: number;
  /** Most keys kept (default 100000). */
  maxKeys: number;
}

export const DEFAULT_RATE_LIMIT: RateLimitOptions = { maxFailures: 5, maxFailuresPerIp: 50, windowMs: 15 * 60_000, maxKeys: 100_000 };

export class LoginLimiter {
  private readonly failures = new Map<string, number[]>();
  constructor(
    private readonly opts: RateLimitOptions = DEFAULT_RATE_LIMIT,
    private readonly now: () => number = Date.now,
  ) {}

  private keys(user: string, ip: string): [string, string] {
    return [`u:${user.trim().toLowerCase()}|${ip}`, `ip:${ip}`];
  }

  private recent(key: string): number[] {
    const list = this.failures.get(key);
    if (!list) return [];
    const cut = this.now() - this.opts.windowMs;
    while (list.length > 0 && list[0]! <= cut) list.shift();
    if (list.length === 0) this.failures.delete(key);
    return list;
  }

  /** Seconds to wait before another attempt, or 0 when an attempt is allowed now. */
  retryAfter(user: string, ip: string): number {
    const [uk, ik] = this.keys(user, ip);
    let wait = 0;
    for (const [key, max] of [[uk, this.opts.maxFailures], [ik, this.opts.maxFailuresPerIp]] as const) {
      const list = this.recent(key);
      if (list.length >= max) {
        const until = list[list.length - max]! + this.opts.windowMs;
        wait = Math.max(wait, Math.ceil((until - this.now()) / 1000));
      }
    }
    return wait;
  }

  fail(user: string, ip: string): void {
    const t = this.now();
    for (const key of this.keys(user, ip)) {
      const list = this.recent(key);
      list.push(t);
      this.failures.delete(key); // re-insert: Map order = least recently failed first
      this.failures.set(key, list);
    }
    while (this.failures.size > this.opts.maxKeys) {
      const oldest = this.failures.keys().next().value;
      if (oldest === undefined) break;
      this.failures.delete(oldest);
    }
  }

  succeed(user: string, ip: string): void {
    this.failures.delete(this.keys(user, ip)[0]);
  }
}
