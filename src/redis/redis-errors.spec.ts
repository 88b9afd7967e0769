import { isRedisTransientError } from './redis-errors';

describe('isRedisTransientError', () => {
  it.each([
    'Command timed out',
    "Stream isn't writeable and enableOfflineQueue options is false",
    'Connection is closed.',
    'connect ECONNREFUSED 127.0.0.1:6379',
    'BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.',
    'LOADING Redis is loading the dataset in memory',
    'READONLY You can\'t write against a read only replica.',
    "OOM command not allowed when used memory > 'maxmemory'.",
  ])('retries %s', (message) => {
    expect(isRedisTransientError(new Error(message))).toBe(true);
  });

  it('retries ioredis giving up on a request', () => {
    expect(isRedisTransientError(Object.assign(new Error('Reached the max retries per request limit'), { name: 'MaxRetriesPerRequestError' }))).toBe(true);
  });

  it('does not retry a script that failed at run time, nor anything that is not an Error', () => {
    expect(isRedisTransientError(new Error('ERR user_script:12: Script attempted to access nonexistent global variable'))).toBe(false);
    expect(isRedisTransientError(new Error('WRONGTYPE Operation against a key holding the wrong kind of value'))).toBe(false);
    expect(isRedisTransientError('Command timed out')).toBe(false);
  });
});
