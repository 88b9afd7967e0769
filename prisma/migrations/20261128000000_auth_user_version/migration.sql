-- AlterTable: a per-user counter bumped on every auth-relevant change (role, status, password).
-- Redis cache entries carry it; writers never replace an entry with a lower version.
ALTER TABLE "users" ADD COLUMN "auth_version" INTEGER NOT NULL DEFAULT 0;
