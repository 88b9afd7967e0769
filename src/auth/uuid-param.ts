import { ApiError } from '../common/http/api-error';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Resource ids are UUIDs; anything else cannot exist, so it is 404 (not a 400 or a 500 from PostgreSQL). */
export function uuidOr404(id: string, what: string): string {
  if (!UUID.test(id)) throw ApiError.notFound(`${what} not found`);
  return id.toLowerCase();
}
