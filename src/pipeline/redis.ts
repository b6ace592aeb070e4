/** Redis connections for BullMQ (DESIGN.md §4: ioredis with maxRetriesPerRequest null). */
import { Redis } from 'ioredis';

export function redisConnection(url: string): Redis {
  return new Redis(url, { maxRetriesPerRequest: null, enableReadyCheck: true, lazyConnect: false });
}

/** All Kadi queues live under this key prefix, so one Redis can serve several installations by changing it. */
export const QUEUE_PREFIX = 'kadi';
