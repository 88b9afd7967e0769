/**
 * Classification of storage errors. The worker must never dead-letter a good event because a
 * shard was briefly away, so anything that says "the server could not be reached / could not
 * serve right now" is transient (retried, then left pending); only an answer about one document
 * ("this document is invalid") sends that document to the DLQ.
 */

/** Driver error classes that mean the shard was not reachable or the connection broke. */
const TRANSIENT_ERROR_NAMES = new Set([
  'MongoNetworkError',
  'MongoNetworkTimeoutError',
  'MongoServerSelectionError',
  'MongoNotConnectedError',
  'MongoTopologyClosedError',
  'MongoPoolClearedError',
  'MongoWaitQueueTimeoutError',
  'MongoOperationTimeoutError',
  'MongoServerClosedError',
  'MongoExpiredSessionError',
  'AttemptTimeoutError',
]);

/** Server codes of the retryable family (MongoDB's own retryable-writes list) plus time limits. */
const TRANSIENT_CODES = new Set([
  6, // HostUnreachable
  7, // HostNotFound
  50, // MaxTimeMSExpired
  89, // NetworkTimeout
  91, // ShutdownInProgress
  112, // WriteConflict
  189, // PrimarySteppedDown
  262, // ExceededTimeLimit
  9001, // SocketException
  10107, // NotWritablePrimary
  11600, // InterruptedAtShutdown
  11602, // InterruptedDueToReplStateChange
  13435, // NotPrimaryNoSecondaryOk
  13436, // NotPrimaryOrSecondary
  64, // WriteConcernFailed
  24, // LockTimeout
  46, // LockBusy
]);

/**
 * Codes that are a verdict on the documents themselves. A command failing with one of these as a
 * whole is split into single-document writes to find the culprit.
 */
const DOCUMENT_CODES = new Set([
  2, // BadValue (FerretDB: invalid key / invalid value, e.g. nested arrays)
  9, // FailedToParse
  14, // TypeMismatch
  15, // Overflow
  22, // InvalidBSON
  52, // DollarPrefixedFieldName
  55, // InvalidDBRef
  56, // EmptyFieldName
  57, // DottedFieldName
  121, // DocumentValidationFailure
  10334, // BSONObjectTooLarge
  17419, // document too large
]);

export const DUPLICATE_KEY = 11000;

interface ErrorLike {
  name?: string;
  code?: unknown;
  message?: string;
  errorLabels?: unknown;
  errorLabelSet?: Set<string>;
  hasErrorLabel?: (label: string) => boolean;
  cause?: unknown;
}

const numericCode = (err: ErrorLike): number | undefined => (typeof err.code === 'number' ? err.code : undefined);

function hasLabel(err: ErrorLike, label: string): boolean {
  if (typeof err.hasErrorLabel === 'function') return err.hasErrorLabel(label);
  return Array.isArray(err.errorLabels) && err.errorLabels.includes(label);
}

/** True when retrying later may succeed without anything about the documents changing. */
export function isTransientError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const e = err as ErrorLike;
  if (e.name && TRANSIENT_ERROR_NAMES.has(e.name)) return true;
  if (hasLabel(e, 'RetryableWriteError') || hasLabel(e, 'TransientTransactionError') || hasLabel(e, 'ResetPool')) return true;
  const code = numericCode(e);
  if (code !== undefined && TRANSIENT_CODES.has(code)) return true;
  if (/ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|socket hang up|connection .* closed|not connected/i.test(e.message ?? '')) return true;
  return false;
}

/** True for a per-document code that says "this document can never be stored as it is". */
export function isDocumentError(code: number | undefined): boolean {
  return code !== undefined && code !== DUPLICATE_KEY && !TRANSIENT_CODES.has(code);
}

/**
 * A whole-command failure that is a verdict on (some of) the documents rather than on the
 * shard: client-side serialisation errors (BSON, stack depth) and the document codes above.
 * Anything else unknown is treated as transient, so that an unexpected server hiccup leaves
 * entries pending instead of dead-lettering good events.
 */
export function isBatchDocumentError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (isTransientError(err)) return false;
  const e = err as ErrorLike;
  if (e.name === 'BSONError' || e.name === 'BSONVersionError' || err instanceof RangeError || err instanceof TypeError) return true;
  if (e.name === 'MongoInvalidArgumentError') return true;
  const code = numericCode(e);
  return code !== undefined && DOCUMENT_CODES.has(code);
}

/**
 * A whole-command failure the server answered with a code that is neither transient nor a known
 * document verdict (e.g. FerretDB's code 1 wrapping PostgreSQL's SQLSTATE 22P05 for a NUL in a
 * string). It may be a verdict on one document or a problem of the shard: the writer splits the
 * batch and decides by evidence (see EventWriter). Never true for network errors or timeouts.
 */
export function isUnknownServerRefusal(err: unknown): boolean {
  if (!(err instanceof Error) || isTransientError(err) || isBatchDocumentError(err)) return false;
  const e = err as ErrorLike;
  return (e.name === 'MongoServerError' || e.name === 'MongoBulkWriteError') && numericCode(e) !== undefined;
}

/** Short, log- and DLQ-safe description of an error. */
export function describeError(err: unknown): { message: string; code?: number; name?: string } {
  if (!(err instanceof Error)) return { message: String(err) };
  const e = err as ErrorLike;
  return { name: err.name, message: err.message.slice(0, 1_000), ...(numericCode(e) !== undefined ? { code: numericCode(e) } : {}) };
}
