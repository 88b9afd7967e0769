import { createHash } from 'node:crypto';
import type Redis from 'ioredis';

/**
 * A Lua script run by EVALSHA, falling back to EVAL once when the server does not know it yet
 * (fresh server, SCRIPT FLUSH). Avoids defineCommand, which would patch the shared client.
 */
export class RedisScript {
  private readonly sha: string;

  constructor(private readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  async run(redis: Redis, keys: string[], args: Array<string | number>): Promise<unknown> {
    const argv = [...keys, ...args.map(String)];
    try {
      return await redis.evalsha(this.sha, keys.length, ...argv);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return redis.eval(this.source, keys.length, ...argv);
    }
  }
}
