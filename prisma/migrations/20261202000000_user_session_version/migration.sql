-- AlterTable: a per-user counter bumped by a password reset or a status change. JWTs carry the
-- value they were issued at and are refused once it differs (the change ends the user's sessions).
ALTER TABLE "users" ADD COLUMN "session_version" INTEGER NOT NULL DEFAULT 0;
