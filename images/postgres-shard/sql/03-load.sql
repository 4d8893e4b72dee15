-- How a load replaces data on a shard, atomically: all of it runs inside the
-- loader's one transaction per shard, so a load that dies at any point leaves
-- the shard exactly as it was (the staging table vanishes with the rollback).
--
--   SELECT begin_intron_load();                 -- new empty table intron_staging
--   COPY intron_staging FROM STDIN (FREEZE);    -- the file's rows for this shard
--   SELECT finish_intron_load(chromosomes, source, compilation);
--   COMMIT;  then VACUUM intron;   (visibility map for the rows kept)
--
-- A load replaces the chromosomes it contains and keeps the others, so loading
-- the same file twice leaves one copy of each row, and per-chromosome files can
-- be loaded one after another.

SET ROLE :"loader_role";

CREATE FUNCTION begin_intron_load() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    -- One load per shard at a time: a second one fails at once instead of queueing.
    IF NOT pg_try_advisory_xact_lock(hashtext('snapthunder.intron_load')) THEN
        RAISE EXCEPTION 'another load is running on this shard'
            USING HINT = 'wait for it to finish, or stop it, then load again';
    END IF;
    CREATE TABLE intron_staging (LIKE intron INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
END
$$;

CREATE FUNCTION finish_intron_load(loaded_chromosomes text[], load_source text, compilation text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    loaded bigint;
    duplicate text;
    staged name;
BEGIN
    INSERT INTO intron_staging
        SELECT * FROM intron WHERE NOT (chromosome = ANY (loaded_chromosomes));
    BEGIN
        PERFORM create_intron_indexes('intron_staging');
    EXCEPTION WHEN unique_violation THEN
        GET STACKED DIAGNOSTICS duplicate = PG_EXCEPTION_DETAIL;
        RAISE EXCEPTION 'duplicate snaptron_id: %', duplicate
            USING HINT = 'snaptron_id must be unique within a compilation: remove the duplicate line and load again';
    END;
    DROP TABLE intron;
    ALTER TABLE intron_staging RENAME TO intron;
    -- Each index create_intron_indexes made, intron_staging_X, becomes intron_X.
    FOR staged IN SELECT index.relname FROM pg_index JOIN pg_class AS index ON index.oid = pg_index.indexrelid
                  WHERE pg_index.indrelid = 'intron'::regclass LOOP
        EXECUTE format('ALTER INDEX %I RENAME TO %I', staged, 'intron' || substr(staged, length('intron_staging') + 1));
    END LOOP;
    ANALYZE intron;

    DELETE FROM chromosome_stats;
    INSERT INTO chromosome_stats (chromosome, row_count, max_length)
        SELECT chromosome, count(*), max(length) FROM intron GROUP BY chromosome;
    SELECT coalesce(sum(row_count), 0) INTO loaded FROM chromosome_stats
        WHERE chromosome = ANY (loaded_chromosomes);
    INSERT INTO load_history (source, rows_loaded, chromosomes)
        VALUES (load_source, loaded, loaded_chromosomes);
    INSERT INTO shard_metadata (key, value) VALUES ('compilation', compilation)
        ON CONFLICT (key) DO UPDATE SET value = excluded.value;
    RETURN loaded;
END
$$;

-- Only the loader may run these (PUBLIC can execute new functions by default).
REVOKE EXECUTE ON FUNCTION begin_intron_load(), finish_intron_load(text[], text, text) FROM PUBLIC;

RESET ROLE;
