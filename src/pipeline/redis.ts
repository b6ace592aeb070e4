/** Redis connections for BullMQ (DESIGN.md §4: ioredis with maxRetriesPerRequest null). */
import { Redis } from 'ioredis';
import { KadiError } from '../shared/index.ts';

export function redisConnection(url: string): Redis {
  return new Redis(url, { maxRetriesPerRequest: null, enableReadyCheck: true, lazyConnect: false });
}

/** All Kadi queues live under this key prefix, so one Redis can serve several installations by changing it. */
export const QUEUE_PREFIX = 'kadi';

/** The URL without its password, for messages. */
export function redactRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparsable KADI_REDIS_URL)';
  }
}

/**
 * Fails fast with REDIS_UNAVAILABLE when Redis does not answer within `timeoutMs`. BullMQ connections retry for
 * ever (right for a worker riding out a Redis restart, wrong for a command started against a Redis that is not
 * there: it would wait silently).
 */
export async function checkRedis(url: string, timeoutMs = 5000): Promise<void> {
  const c = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: timeoutMs, retryStrategy: () => null, enableOfflineQueue: false });
  let cause: string | undefined;
  c.on('error', (e: Error) => (cause ??= e.message));
  try {
    await c.connect();
    await c.ping();
  } catch (e) {
    throw new KadiError('REDIS_UNAVAILABLE', `cannot reach Redis at ${redactRedisUrl(url)}: ${cause ?? (e as Error).message}`, {
      hint: 'Start it (`scripts/services.sh start redis`, which also prints the URL with `scripts/services.sh env`) or set KADI_REDIS_URL.',
    });
  } finally {
    c.disconnect();
  }
}
