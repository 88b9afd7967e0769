import { randomUUID } from 'node:crypto';
import { PrismaPg } from '@prisma/adapter-pg';
import { Client } from 'pg';
import { PrismaClient } from '../../src/generated/prisma/client';
import { TEST_DATABASE_URL, uniqueSuffix } from '../support/test-env';

/**
 * The Prisma schema and the SQL migrations agree: every model can be created, read, updated and
 * deleted through the generated client against the database `npm run db:migrate` produced, and
 * every scalar field maps to a column of the right table (and vice versa).
 */
describe('auth schema: Prisma client vs migrated PostgreSQL', () => {
  const prisma = new PrismaClient({ adapter: new PrismaPg({ connectionString: TEST_DATABASE_URL }) });
  const pg = new Client({ connectionString: TEST_DATABASE_URL });
  const suffix = uniqueSuffix();

  beforeAll(() => pg.connect());
  afterAll(async () => {
    await prisma.$disconnect();
    await pg.end();
  });

  it('every scalar field of every model has a column, and every column a field', async () => {
    const runtime = (prisma as unknown as { _runtimeDataModel: { models: Record<string, { dbName: string | null; fields: Array<{ name: string; kind: string; dbName?: string }> }> } })._runtimeDataModel;
    expect(Object.keys(runtime.models).sort()).toEqual(['ApiKey', 'User']);
    for (const [name, model] of Object.entries(runtime.models)) {
      const table = model.dbName ?? name;
      const { rows } = await pg.query('SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1', [table]);
      const columns = rows.map((r) => r.column_name as string).sort();
      const fields = model.fields.filter((f) => f.kind === 'scalar' || f.kind === 'enum').map((f) => f.dbName ?? f.name).sort();
      expect({ table, columns }).toEqual({ table, columns: fields });
    }
  });

  it('User and ApiKey: create, read, update, delete (cascade) through the generated client', async () => {
    const user = await prisma.user.create({
      data: { email: `schema-${suffix}@example.test`, name: 'Schema', passwordHash: 'scrypt$x', role: 'OPERATOR' },
    });
    expect(user).toMatchObject({ status: 'ACTIVE', authVersion: 0, role: 'OPERATOR' });
    expect(user.id).toMatch(/^[0-9a-f-]{36}$/);
    const expiresAt = new Date(Date.now() + 60_000);
    const key = await prisma.apiKey.create({
      data: { userId: user.id, name: 'k', prefix: 'evp_abcdefgh', keyHash: `${suffix}${'0'.repeat(56)}`, expiresAt },
    });
    expect(key).toMatchObject({ lastUsedAt: null, revokedAt: null, expiresAt });

    const read = await prisma.user.findUnique({ where: { email: user.email }, include: { apiKeys: true } });
    expect(read!.apiKeys.map((k) => k.id)).toEqual([key.id]);

    const now = new Date();
    const updated = await prisma.user.update({
      where: { id: user.id },
      data: { role: 'ADMIN', status: 'DISABLED', name: 'Renamed', authVersion: { increment: 1 } },
    });
    expect(updated).toMatchObject({ role: 'ADMIN', status: 'DISABLED', name: 'Renamed', authVersion: 1 });
    expect(updated.updatedAt.getTime()).toBeGreaterThanOrEqual(user.updatedAt.getTime());
    const revoked = await prisma.apiKey.update({ where: { id: key.id }, data: { revokedAt: now, lastUsedAt: now } });
    expect(revoked).toMatchObject({ revokedAt: now, lastUsedAt: now });

    await prisma.user.delete({ where: { id: user.id } });
    expect(await prisma.apiKey.findUnique({ where: { id: key.id } })).toBeNull(); // ON DELETE CASCADE
  });

  it('the database enforces what the model promises: unique lower-case emails, unique key hashes, owners exist', async () => {
    const email = `unique-${suffix}@example.test`;
    const user = await prisma.user.create({ data: { email, name: 'U', passwordHash: 'h' } });
    try {
      await expect(prisma.user.create({ data: { email, name: 'U2', passwordHash: 'h' } })).rejects.toMatchObject({ code: 'P2002' });
      await expect(prisma.user.create({ data: { email: `Upper-${suffix}@example.test`, name: 'U3', passwordHash: 'h' } })).rejects.toThrow();
      const keyHash = `${suffix}${'1'.repeat(56)}`;
      await prisma.apiKey.create({ data: { userId: user.id, name: 'a', prefix: 'p', keyHash } });
      await expect(prisma.apiKey.create({ data: { userId: user.id, name: 'b', prefix: 'p', keyHash } })).rejects.toMatchObject({ code: 'P2002' });
      await expect(prisma.apiKey.create({ data: { userId: randomUUID(), name: 'c', prefix: 'p', keyHash: `${keyHash}x` } })).rejects.toThrow();
    } finally {
      await prisma.user.delete({ where: { id: user.id } });
    }
  });
});
