import { defineConfig } from 'prisma/config';

// DATABASE_URL is only needed by commands that talk to the database (migrate, studio);
// `prisma generate` works without it.
export default defineConfig({
  schema: 'schema.prisma',
  migrations: { path: 'migrations' },
  datasource: { url: process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/event_processor' },
});
