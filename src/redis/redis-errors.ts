/**
 * Redis failures worth retrying: the client could not reach the server or gave up waiting
 * (ioredis raises plain Errors for these), or the server is busy, loading, read-only or out of
 * memory — states that pass. A script that fails at run time ("ERR user_script…") is not one:
 * Redis does not roll a script back, so a retry would only meet what the failed run left behind.
 */
const TRANSIENT_MESSAGE =
  /Command timed out|Connection is closed|Stream isn't writeable|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|^(BUSY|LOADING|READONLY|TRYAGAIN|CLUSTERDOWN|MASTERDOWN|OOM)\b/;

export function isRedisTransientError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  return err.name === 'MaxRetriesPerRequestError' || TRANSIENT_MESSAGE.test(err.message ?? '');
}
