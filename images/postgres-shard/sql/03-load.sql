-- How a load replaces one compilation's data on a shard, atomically: all of it
-- runs inside the loader's one transaction per shard, with the compilation's
-- schema first on search_path (the tables named here are that schema's), so a
-- load that dies at any point leaves the shard exactly as it was (the staging table vanishes with the rollback).
--
--   SELECT begin_table_load('intron');                 -- new empty table intron_staging
--   COPY intron_staging FROM STDIN (FREEZE);           -- the file's rows for this shard
--   SELECT finish_table_load('intron', 'chromosome_stats', chromosomes, source, compilation);
--   COMMIT;  then VACUUM intron;   (visibility map for the rows kept)
--
-- The gene and exon tables load the same way (with gene_chromosome_stats,
-- exon_chromosome_stats), in the same transaction as the junctions.
--
-- A load replaces the chromosomes it contains and keeps the others, so loading
-- the same file twice leaves one copy of each row, and per-chromosome files can
-- be loaded one after another.

SET ROLE :"loader_role";

-- table_name is one of intron, gene, exon (the loader's snapthunder/features.py).
CREATE FUNCTION begin_table_load(table_name text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    -- One load per compilation and shard at a time: a second one fails at once
    -- instead of queueing; loads of other compilations (other schemas) go on.
    -- The lock is the transaction's, so the same load may take it for each table.
    IF NOT pg_try_advisory_xact_lock(hashtext('snapthunder.intron_load:' || current_schema())) THEN
        RAISE EXCEPTION 'another load of compilation % is running on this shard', current_schema()
            USING HINT = 'wait for it to finish, or stop it, then load again';
    END IF;
    EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
                   table_name || '_staging', table_name);
END
$$;

-- max_length is end - start + 1, which is a junction's length; a gene's `length`
-- column may be its exonic length instead, which would not bound overlaps.
CREATE FUNCTION finish_table_load(table_name text, stats_table text, loaded_chromosomes text[],
                                  load_source text, compilation text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    staging text := table_name || '_staging';
    loaded bigint;
    duplicate text;
BEGIN
    EXECUTE format('INSERT INTO %I SELECT * FROM %I WHERE NOT (chromosome = ANY ($1))', staging, table_name)
        USING loaded_chromosomes;
    BEGIN
        PERFORM create_intron_indexes(staging);
    EXCEPTION WHEN unique_violation THEN
        GET STACKED DIAGNOSTICS duplicate = PG_EXCEPTION_DETAIL;
        RAISE EXCEPTION 'duplicate snaptron_id: % (in the % table)', duplicate, table_name
            USING HINT = 'snaptron_id must be unique within a compilation: remove the duplicate line and load again';
    END;
    EXECUTE format('DROP TABLE %I', table_name);
    EXECUTE format('ALTER TABLE %I RENAME TO %I', staging, table_name);
    EXECUTE format('ALTER INDEX %I RENAME TO %I', staging || '_pkey', table_name || '_pkey');
    EXECUTE format('ALTER INDEX %I RENAME TO %I', staging || '_region', table_name || '_region');
    EXECUTE format('ANALYZE %I', table_name);

    EXECUTE format('DELETE FROM %I', stats_table);
    EXECUTE format('INSERT INTO %I (chromosome, row_count, max_length) '
                   'SELECT chromosome, count(*), max("end" - start + 1) FROM %I GROUP BY chromosome',
                   stats_table, table_name);
    EXECUTE format('SELECT coalesce(sum(row_count), 0) FROM %I WHERE chromosome = ANY ($1)', stats_table)
        INTO loaded USING loaded_chromosomes;
    INSERT INTO load_history (source, rows_loaded, chromosomes)
        VALUES (load_source, loaded, loaded_chromosomes);
    INSERT INTO shard_metadata (key, value) VALUES ('compilation', compilation)
        ON CONFLICT (key) DO UPDATE SET value = excluded.value;
    RETURN loaded;
END
$$;

-- Only the loader may run these (PUBLIC can execute new functions by default).
REVOKE EXECUTE ON FUNCTION begin_table_load(text), finish_table_load(text, text, text[], text, text) FROM PUBLIC;

RESET ROLE;
