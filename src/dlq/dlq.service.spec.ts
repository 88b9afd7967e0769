import type Redis from 'ioredis';
import { ApiError } from '../common/http/api-error';
import { encodeStreamEntry } from '../events/stream-entry';
import { RedisKeys } from '../redis/redis-keys';
import type { DlqDocument } from './dlq-entry';
import type { DlqRepository } from './dlq.repository';
import { DlqService } from './dlq.service';

const dlqDoc = (id: string): DlqDocument =>
  ({
    _id: id,
    raw: encodeStreamEntry({ event: { eventId: `e-${id}`, eventType: 't', userId: 'u', sessionId: 's', timestamp: '2026-12-01T00:00:00.000Z', priority: 1 }, apiKeyId: null, receivedAt: 1 }),
    truncated: false,
  }) as unknown as DlqDocument;

/** Replay against a fake DLQ collection and a fake Redis pipeline. */
describe('DlqService.replay', () => {
  let appended: string[][];
  let deleteFailures: number;
  let deleted: string[];
  let service: DlqService;

  beforeEach(() => {
    appended = [];
    deleted = [];
    deleteFailures = 0;
    const pipeline = () => {
      const queued: string[][] = [];
      return {
        xadd: (_stream: string, _id: string, ...fields: string[]) => void queued.push(fields),
        exec: async () => {
          appended.push(...queued);
          return queued.map(() => [null, '1-0']);
        },
      };
    };
    const repo = {
      findByIds: async (ids: string[]) => ids.map(dlqDoc),
      deleteIds: async (ids: string[]) => {
        if (deleteFailures-- > 0) throw new Error('connection closed');
        deleted.push(...ids);
        return ids.length;
      },
      count: async () => 0,
    } as unknown as DlqRepository;
    service = new DlqService(repo, new RedisKeys('events_stream', 1), { pipeline } as unknown as Redis);
  });

  it('appends, then removes from the DLQ, riding out a short shard blip', async () => {
    deleteFailures = 2;
    const r = await service.replay({ ids: ['a', 'b'] });
    expect(r.replayed).toEqual(['a', 'b']);
    expect(appended).toHaveLength(2);
    expect(deleted).toEqual(['a', 'b']);
  });

  it('does not answer "nothing was accepted" when the entries were appended but could not be removed', async () => {
    deleteFailures = 99;
    const err = await service.replay({ ids: ['a', 'b'] }).catch((e: unknown) => e);
    expect(appended).toHaveLength(2);
    expect(err).toBeInstanceOf(ApiError);
    const api = err as ApiError;
    expect(api.getStatus()).toBe(503);
    expect(api.retryAfterSeconds).toBe(1);
    const { error } = api.getResponse() as { error: { code: string; message: string } };
    expect(error.code).toBe('SERVICE_UNAVAILABLE');
    expect(error.message).toMatch(/2 entries were appended to the stream, but 2 of them could not be removed/);
    expect(error.message).not.toMatch(/nothing was accepted/);
  });
});
