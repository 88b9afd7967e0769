import type Redis from 'ioredis';
import { AppConfig } from '../config/app-config';
import { RedisKeys } from '../redis/redis-keys';
import { BACKLOG_STALE_MS, BacklogMonitor, streamBacklog } from './backlog-monitor';
import { RedisClock } from './redis-clock';

const group = (fields: Record<string, unknown>) => Object.entries(fields).flat();

describe('streamBacklog', () => {
  it('without a consumer group the stream length is the backlog', () => {
    expect(streamBacklog([], 12)).toBe(12);
  });

  it('is lag + pending of the slowest group', () => {
    const groups = [group({ name: 'a', pending: 3, lag: 2 }), group({ name: 'b', pending: 0, lag: 9 })];
    expect(streamBacklog(groups, 100)).toBe(9);
  });

  it('falls back to the stream length when Redis cannot tell the lag', () => {
    expect(streamBacklog([group({ name: 'a', pending: 3, lag: null })], 40)).toBe(40);
  });
});

describe('BacklogMonitor', () => {
  /** A fake Redis whose XINFO GROUPS/XLEN answer `state.length` entries, none delivered; `gate` holds an answer back. */
  function monitor(limit: number) {
    const state = { length: 0, gate: undefined as Promise<void> | undefined, fail: undefined as Error | undefined };
    const redis = {
      pipeline: () => {
        const p = {
          xinfo: () => p,
          xlen: () => p,
          time: () => p,
          exec: async () => {
            const length = state.length; // what the server holds when the command arrives
            await state.gate;
            if (state.fail) throw state.fail;
            return [
              [null, []],
              [null, length],
              [null, ['0', '0']],
            ];
          },
        };
        return p;
      },
    };
    const config = Object.assign(new AppConfig(), { MAX_STREAM_BACKLOG: limit });
    return { state, gauge: new BacklogMonitor(redis as unknown as Redis, new RedisKeys('s', 1), config, new RedisClock()) };
  }

  it('counts its own appends on top of the last sample until a sample includes them', async () => {
    const { state, gauge } = monitor(100);
    await gauge.sample();
    expect(gauge.current()).toBe(0);
    // 150 entries appended right after a sample: over the limit now, not 250 ms later.
    gauge.noteAppended(60);
    state.length += 60;
    expect(gauge.isOverloaded()).toBe(false);
    gauge.noteAppended(90);
    state.length += 90;
    expect(gauge.current()).toBe(150);
    expect(gauge.isOverloaded()).toBe(true);
    // The next sample sees them in the stream: they are not counted twice.
    await gauge.sample();
    expect(gauge.current()).toBe(150);
    // Workers drained the stream: the sample says so.
    state.length = 10;
    await gauge.sample();
    expect([gauge.current(), gauge.isOverloaded()]).toEqual([10, false]);
  });

  it('keeps the last value while sampling fails, and stops refusing on it once it is stale', async () => {
    jest.useFakeTimers({ now: 1_000_000 });
    try {
      const { state, gauge } = monitor(100);
      state.length = 500;
      await gauge.sample();
      expect(gauge.isOverloaded()).toBe(true);
      state.fail = new Error('Connection is closed.');
      jest.setSystemTime(1_000_000 + BACKLOG_STALE_MS - 1);
      await gauge.sample();
      expect(gauge.isOverloaded()).toBe(true); // a recent value still holds
      jest.setSystemTime(1_000_000 + BACKLOG_STALE_MS + 1);
      await gauge.sample();
      expect([gauge.current(), gauge.isOverloaded()]).toEqual([500, false]); // requests meet Redis (503 if it is down)
      state.fail = undefined;
      await gauge.sample();
      expect(gauge.isOverloaded()).toBe(true); // fresh again
    } finally {
      jest.useRealTimers();
    }
  });

  it('fails the boot when the first sample fails (an ACL without XLEN, a key of another type)', async () => {
    const { state, gauge } = monitor(100);
    state.fail = new Error("NOPERM User evp has no permissions to run the 'xlen' command");
    await expect(gauge.onApplicationBootstrap()).rejects.toThrow(/cannot read the stream backlog.*NOPERM/);
  });

  it('keeps appends made while a sample was on its way (the sample may not include them)', async () => {
    const { state, gauge } = monitor(100);
    let release!: () => void;
    state.gate = new Promise<void>((r) => (release = r));
    const pending = gauge.sample();
    gauge.noteAppended(40);
    state.length += 40;
    release();
    await pending;
    // The server counted 0 when the sample arrived; the 40 later ones stay counted locally.
    expect(gauge.current()).toBe(40);
  });
});
