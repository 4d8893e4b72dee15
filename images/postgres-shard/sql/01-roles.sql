-- Roles of a snapthunder shard, and what each may do. Run by psql as the
-- superuser, once, when the shard's data directory is initialised (the image's
-- initdb script and the local environment both run this file). psql variables:
-- database, loader_role, loader_password_file, reader_role, reader_password_file;
-- :'x' quotes a literal, :"x" an identifier.

-- The passwords, read from their files by psql itself (`cat` is given only the
-- path): never on a command line, where /proc/PID/cmdline shows them to anyone.
\set loader_password `cat :'loader_password_file'`
\set reader_password `cat :'reader_password_file'`

-- The loader owns the data tables: a load builds a new table and swaps it in.
CREATE ROLE :"loader_role" LOGIN PASSWORD :'loader_password';
-- The reader is what the API connects as: it can only read.
CREATE ROLE :"reader_role" LOGIN PASSWORD :'reader_password';
\unset loader_password
\unset reader_password

-- What PostgreSQL grants every role (PUBLIC) by default goes: connecting to any
-- database, and creating temporary tables in it. This database admits the two
-- roles, and neither may create temporary tables (no load or query needs one);
-- the maintenance and template databases admit only the superuser.
REVOKE ALL ON DATABASE :"database", postgres, template1 FROM PUBLIC;
GRANT CONNECT ON DATABASE :"database" TO :"loader_role", :"reader_role";
-- Each compilation is a schema of its own, which the loader creates on its
-- first load (snapthunder/compilations.py); public holds the shared functions.
GRANT CREATE ON DATABASE :"database" TO :"loader_role";
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE, CREATE ON SCHEMA public TO :"loader_role";
GRANT USAGE ON SCHEMA public TO :"reader_role";
-- The compilations' schemas and the tables the loader creates in them (every
-- load's new intron table) are readable by the reader, in any schema.
ALTER DEFAULT PRIVILEGES FOR ROLE :"loader_role" GRANT USAGE ON SCHEMAS TO :"reader_role";
ALTER DEFAULT PRIVILEGES FOR ROLE :"loader_role" GRANT SELECT ON TABLES TO :"reader_role";
-- Large objects are the one thing any role may create anywhere by default.
REVOKE EXECUTE ON FUNCTION lo_creat(integer), lo_create(oid), lo_from_bytea(oid, bytea) FROM PUBLIC;
-- Advisory locks: loads take one (loaders/two_phase.py, begin_table_load), and
-- a reader holding it would make every load fail as "another load is running".
-- Only the loader may take them.
REVOKE EXECUTE ON FUNCTION
    pg_advisory_lock(bigint), pg_advisory_lock(integer, integer),
    pg_advisory_lock_shared(bigint), pg_advisory_lock_shared(integer, integer),
    pg_try_advisory_lock(bigint), pg_try_advisory_lock(integer, integer),
    pg_try_advisory_lock_shared(bigint), pg_try_advisory_lock_shared(integer, integer),
    pg_advisory_xact_lock(bigint), pg_advisory_xact_lock(integer, integer),
    pg_advisory_xact_lock_shared(bigint), pg_advisory_xact_lock_shared(integer, integer),
    pg_try_advisory_xact_lock(bigint), pg_try_advisory_xact_lock(integer, integer),
    pg_try_advisory_xact_lock_shared(bigint), pg_try_advisory_xact_lock_shared(integer, integer)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pg_try_advisory_lock(bigint), pg_try_advisory_xact_lock(bigint) TO :"loader_role";

-- A first guard, not the barrier: any session can SET this back off. The
-- privileges above are what make writing impossible: the reader may SELECT the
-- tables, USE the schema and EXECUTE the query functions 04-query.sql grants,
-- and nothing else.
ALTER ROLE :"reader_role" SET default_transaction_read_only = on;
