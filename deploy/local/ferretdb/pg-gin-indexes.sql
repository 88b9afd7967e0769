-- Local stand-in only (FerretDB v1.24 on PostgreSQL); production runs real MongoDB and never sees this.
--
-- FerretDB pushes an equality filter {f: v} down as `_jsonb->'f' @> v` (a jsonb containment), but the
-- indexes it creates itself are btree expression indexes `((_jsonb->'f'))`, which cannot serve `@>`:
-- every pushed-down query is a sequential scan. A GIN index `USING gin ((_jsonb->'f') jsonb_path_ops)`
-- serves `@>`. This file makes PostgreSQL add one for `_id` and `userId` to every table FerretDB
-- creates for a collection, at the moment it is created (an event trigger), and to the collection
-- tables that exist already. FerretDB does not know about these indexes (they are not in its metadata,
-- so listIndexes does not show them); dropping the collection or database drops them with the table.
--
-- Applied by `bash scripts/services.sh up` to every ferretdb_shard_<N> database; idempotent.
-- See deploy/local/README.md ("GIN indexes for pushed-down equality") for the measurements.

-- Name of our index on table `tbl` for field `field`: <= 63 bytes, never ends in FerretDB's `_idx`.
CREATE OR REPLACE FUNCTION public.evp_gin_index_name(tbl name, field text) RETURNS name
LANGUAGE sql IMMUTABLE AS $$
  SELECT (left(tbl, 36) || '_' || substr(md5(tbl), 1, 8) || '_evp_gin_' || lower(replace(field, '_', '')))::name
$$;

-- Adds the GIN indexes to one FerretDB collection table (no-op for anything else).
CREATE OR REPLACE FUNCTION public.evp_add_gin_indexes(tbl regclass) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  sch name;
  rel name;
  f text;
BEGIN
  SELECT n.nspname, c.relname INTO sch, rel
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE c.oid = tbl AND c.relkind = 'r';
  -- FerretDB's own tables (_ferretdb_database_metadata) and non-FerretDB tables are left alone.
  IF rel IS NULL OR rel LIKE '\_ferretdb\_%' OR sch LIKE 'pg\_%' OR sch = 'information_schema' THEN
    RETURN;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = tbl AND attname = '_jsonb' AND atttypid = 'jsonb'::regtype AND NOT attisdropped) THEN
    RETURN;
  END IF;
  FOREACH f IN ARRAY ARRAY['_id', 'userId'] LOOP
    EXECUTE format('CREATE INDEX IF NOT EXISTS %I ON %I.%I USING gin ((_jsonb -> %L) jsonb_path_ops)',
                   public.evp_gin_index_name(rel, f), sch, rel, f);
  END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION public.evp_gin_on_create_table() RETURNS event_trigger
LANGUAGE plpgsql AS $$
DECLARE
  r record;
BEGIN
  FOR r IN SELECT objid FROM pg_event_trigger_ddl_commands() WHERE command_tag = 'CREATE TABLE' AND object_type = 'table' LOOP
    BEGIN
      PERFORM public.evp_add_gin_indexes(r.objid::regclass);
    EXCEPTION WHEN OTHERS THEN
      -- never make FerretDB's CREATE TABLE (and so the collection) fail because of an extra index
      RAISE WARNING 'evp_gin_on_create_table: no GIN index on %: %', r.objid::regclass, SQLERRM;
    END;
  END LOOP;
END
$$;

DROP EVENT TRIGGER IF EXISTS evp_gin_on_create_table;
CREATE EVENT TRIGGER evp_gin_on_create_table ON ddl_command_end WHEN TAG IN ('CREATE TABLE')
  EXECUTE FUNCTION public.evp_gin_on_create_table();

-- FerretDB's pgx pool prepares every statement (`_jsonb->$1 @> $2`: the field is a parameter). After
-- five executions PostgreSQL may switch a prepared statement to a generic plan, planned without the
-- parameter values, in which `_jsonb->$1` is not the indexed expression `_jsonb->'userId'`: a scan.
-- It does so only while it estimates the scan cheaper, but that estimate can be stale (a statement
-- first run while the table was small); planning each execution with its values is cheap for
-- FerretDB's one-table statements.
-- Takes effect for connections opened afterwards (a running FerretDB keeps its pooled ones).
DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET plan_cache_mode = force_custom_plan', current_database()); END $$;

-- Collection tables created before this file was applied.
SELECT public.evp_add_gin_indexes(c.oid)
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind = 'r' AND n.nspname NOT LIKE 'pg\_%' AND n.nspname <> 'information_schema' AND c.relname NOT LIKE '\_ferretdb\_%';
