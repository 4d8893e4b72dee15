-- Roles of a snapthunder shard. Run by psql as the superuser, once, when the
-- shard's data directory is initialised (the image's initdb script and the local
-- environment both run this file). psql variables: loader_role, loader_password,
-- reader_role, reader_password; :'x' quotes a literal, :"x" an identifier.

-- The loader owns the data tables: a load builds a new table and swaps it in.
CREATE ROLE :"loader_role" LOGIN PASSWORD :'loader_password';
-- The reader is what the API connects as: it can only SELECT.
CREATE ROLE :"reader_role" LOGIN PASSWORD :'reader_password';

GRANT CONNECT, TEMPORARY ON DATABASE :"database" TO :"loader_role", :"reader_role";
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE, CREATE ON SCHEMA public TO :"loader_role";
GRANT USAGE ON SCHEMA public TO :"reader_role";
-- Tables the loader creates later (each load's new intron table) are readable too.
ALTER DEFAULT PRIVILEGES FOR ROLE :"loader_role" IN SCHEMA public GRANT SELECT ON TABLES TO :"reader_role";
ALTER ROLE :"reader_role" SET default_transaction_read_only = on;
