import { streamBacklog } from './backlog-monitor';

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
