import { ReplyError } from 'ioredis';
import { MongoNetworkError } from 'mongodb';
import { ApiError } from './api-error';
import { toErrorResponse } from './error-mapping';

describe('toErrorResponse', () => {
  it.each([
    ['an ioredis command timeout', new Error('Command timed out')],
    ['a closed Redis connection', new Error('Connection is closed.')],
    ['Redis out of memory', new ReplyError("OOM command not allowed when used memory > 'maxmemory'.")],
    ['Redis busy with a script', new ReplyError('BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSCRIPT.')],
    ['Redis loading its data set', new ReplyError('LOADING Redis is loading the dataset in memory')],
    ['a refused connection', new Error('connect ECONNREFUSED 127.0.0.1:6379')],
    ['a Mongo network error', new MongoNetworkError('connection closed')],
  ])('answers 503 with Retry-After for %s', (_what, err) => {
    const r = toErrorResponse(err);
    expect(r.status).toBe(503);
    expect(r.body.error.code).toBe('SERVICE_UNAVAILABLE');
    expect(r.retryAfterSeconds).toBeGreaterThan(0);
    expect(r.unexpected).toBe(false);
  });

  it('answers 500 for a defect (a script error is not a dependency being down)', () => {
    const r = toErrorResponse(new ReplyError('ERR user_script:1: Script attempted to access nonexistent global variable'));
    expect(r.status).toBe(500);
    expect(r.body.error.code).toBe('INTERNAL_ERROR');
    expect(r.unexpected).toBe(true);
  });

  it('keeps an ApiError as it is', () => {
    const r = toErrorResponse(ApiError.validation('Request validation failed', [{ field: 'from', message: 'bad' }]));
    expect(r.status).toBe(400);
    expect(r.body.error.details).toEqual([{ field: 'from', message: 'bad' }]);
  });
});
