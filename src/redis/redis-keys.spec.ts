import { DEFAULT_CONSUMER_GROUP, RedisKeys } from './redis-keys';

describe('RedisKeys.workerTransientFailures', () => {
  it('keeps the name it always had for the default group, and gives any other group its own', () => {
    const keys = new RedisKeys('events_stream', 1);
    expect(keys.workerTransientFailures(0, DEFAULT_CONSUMER_GROUP)).toBe('events_stream:transient-failures');
    expect(keys.workerTransientFailures(0, 'canary')).toBe('events_stream:transient-failures:canary');
  });

  it('stays in the slot of its partition stream (same hash tag)', () => {
    const keys = new RedisKeys('events_stream', 4);
    const tag = (k: string) => /\{[^}]*\}/.exec(k)?.[0];
    for (let p = 0; p < 4; p++) {
      expect(tag(keys.workerTransientFailures(p, 'canary'))).toBe(tag(keys.stream(p)));
      expect(tag(keys.stream(p))).toBeDefined();
    }
  });
});
