import {
  BSON,
  MongoBulkWriteError,
  MongoNetworkError,
  MongoNetworkTimeoutError,
  MongoServerError,
  MongoServerSelectionError,
} from 'mongodb';
import { isBatchDocumentError, isDocumentError, isTransientError, isUnknownServerRefusal } from './mongo-errors';

describe('storage error classification', () => {
  it.each([
    ['network error', new MongoNetworkError('connection 3 to 127.0.0.1:27018 closed')],
    ['network timeout', new MongoNetworkTimeoutError('timed out')],
    ['server selection', new MongoServerSelectionError('Server selection timed out after 5000 ms', {} as never)],
    ['not primary', new MongoServerError({ code: 10107, errmsg: 'not primary' })],
    ['shutdown in progress', new MongoServerError({ code: 91, errmsg: 'shutting down' })],
    ['retryable label', new MongoServerError({ code: 1, errmsg: 'x', errorLabels: ['RetryableWriteError'] })],
    ['refused socket', new Error('connect ECONNREFUSED 127.0.0.1:27018')],
  ])('%s is transient', (_, err) => {
    expect(isTransientError(err)).toBe(true);
    expect(isBatchDocumentError(err)).toBe(false);
  });

  it.each([
    ['FerretDB invalid key', new MongoServerError({ code: 2, errmsg: 'invalid key: "$x"' })],
    ['BSON serialisation', new BSON.BSONError('key a\u0000b must not contain null bytes')],
    ['stack overflow while serialising', new RangeError('Maximum call stack size exceeded')],
    ['document too large', new MongoServerError({ code: 10334, errmsg: 'too large' })],
  ])('%s is a verdict on documents', (_, err) => {
    expect(isTransientError(err)).toBe(false);
    expect(isBatchDocumentError(err)).toBe(true);
  });

  it('an unknown server error is not a document verdict, but a refusal the writer investigates', () => {
    const err = new MongoServerError({ code: 1, errmsg: 'ERROR: unsupported Unicode escape sequence (SQLSTATE 22P05)' });
    expect(isBatchDocumentError(err)).toBe(false);
    expect(isUnknownServerRefusal(err)).toBe(true);
    expect(isUnknownServerRefusal(new MongoBulkWriteError({ message: '22P05', code: 1, writeErrors: [] }, {} as never))).toBe(true);
  });

  it.each([
    ['network error', new MongoNetworkError('connection closed')],
    ['network timeout', new MongoNetworkTimeoutError('timed out')],
    ['a retryable code', new MongoServerError({ code: 91, errmsg: 'shutting down' })],
    ['a plain error without a code', new Error('something odd')],
  ])('%s is never an unknown refusal (never split, never a poison document)', (_, err) => {
    expect(isUnknownServerRefusal(err)).toBe(false);
  });

  it('a bulk write error is neither: its per-document errors decide', () => {
    const err = new MongoBulkWriteError({ message: 'E11000', code: 11000, writeErrors: [] }, {} as never);
    expect(isTransientError(err)).toBe(false);
    expect(isBatchDocumentError(err)).toBe(false);
  });

  it('per-document codes: duplicate and transient codes are not document verdicts', () => {
    expect(isDocumentError(2)).toBe(true);
    expect(isDocumentError(11000)).toBe(false);
    expect(isDocumentError(91)).toBe(false);
    expect(isDocumentError(undefined)).toBe(false);
  });
});
