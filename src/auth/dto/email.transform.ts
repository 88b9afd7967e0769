import { Transform } from 'class-transformer';

/** Emails are compared and stored trimmed and lower-case (the users table enforces lower-case). */
export const NormalizeEmail = (): PropertyDecorator =>
  Transform(({ value }: { value: unknown }) => (typeof value === 'string' ? value.trim().toLowerCase() : value));

/** `admin@localhost` is a valid account name (the first admin), so no TLD is required. */
export const EMAIL_OPTIONS = { require_tld: false, allow_ip_domain: false } as const;
