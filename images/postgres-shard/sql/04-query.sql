-- Functions the query API's statements call (snapthunder/query.py builds them).
-- Run by psql as the superuser after 03-load.sql; owned by the loader role like
-- the schema, and executable by the reader role (the API) and nobody else.

SET ROLE :"loader_role";

-- A recomputed statistic printed as Snaptron prints it after a `sids=`
-- projection: Python 2's str() of a float, i.e. 12 significant digits with
-- trailing zeros dropped, and `.0` on whole numbers (`2.0`, `1.25`, `6359.5`,
-- `2.33333333333`, `1e+18`). Stored values never go through this: they keep the file's text.
CREATE FUNCTION python_float_text(value double precision) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    -- to_char rounds with C's printf, as Python does (ties to even, on the exact binary value).
    SELECT CASE WHEN abs(value) >= 999999999999.5
                THEN regexp_replace(trim(to_char(value, '9.99999999999EEEE')), '\.?0+e', 'e')
                WHEN position('.' IN fixed) = 0 THEN fixed || '.0'
                ELSE regexp_replace(regexp_replace(fixed, '0+$', ''), '\.$', '.0') END
    FROM (SELECT to_char(value, 'FM' || repeat('9', greatest(digits, 1)) || '0.' || repeat('0', 12 - digits)) AS fixed
          FROM (SELECT CASE WHEN value = 0 THEN 1 ELSE floor(log(abs(value)))::integer + 1 END AS digits) AS magnitude
         ) AS printed
$$;

-- Snaptron's `sids=` projection of one junction: the `,sid:count` entries of
-- `samples` whose sid is wanted, in their original order, and the statistics
-- recomputed over them as numpy does (mean; median the mean of the two middle
-- counts for an even number). The sum is numeric, so counts that add up past
-- 2^63 still answer. Always one row: samples_count 0 (and NULLs) when no
-- wanted sample is there. Done here rather than in the API so that the sample
-- lists, the bulk of the bytes, never cross the network for rows that the
-- projection drops.
CREATE FUNCTION project_samples(samples text, wanted integer[])
RETURNS TABLE (samples text, samples_count integer, coverage_sum numeric,
               coverage_avg double precision, coverage_median double precision)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT string_agg(',' || entry.item, '' ORDER BY entry.position),
           count(*)::integer,
           sum(entry.reads),
           sum(entry.reads)::double precision / count(*),
           percentile_cont(0.5) WITHIN GROUP (ORDER BY entry.reads::double precision)
    FROM (SELECT piece.item, piece.position,
                 split_part(piece.item, ':', 1)::integer AS sid,
                 split_part(piece.item, ':', 2)::numeric AS reads
          FROM unnest(string_to_array(substr(samples, 2), ',')) WITH ORDINALITY AS piece(item, position)) AS entry
    WHERE entry.sid = ANY (wanted)
$$;

-- The compilations this shard holds: every schema with the compilation schema's
-- shard_metadata table (02-schema.sql), its DataSource label as the loader
-- recorded it, and whether a load has committed there (a schema made for a
-- compilation that is configured but was never loaded is not `loaded`).
CREATE FUNCTION compilations() RETURNS TABLE (name text, data_source text, loaded boolean)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    schema_name text;
BEGIN
    FOR schema_name IN
        SELECT namespace.nspname FROM pg_namespace AS namespace
        JOIN pg_class AS class ON class.relnamespace = namespace.oid
        WHERE class.relname = 'shard_metadata' AND class.relkind = 'r' AND namespace.nspname <> 'public'
          AND has_schema_privilege(namespace.oid, 'USAGE')
        ORDER BY namespace.nspname
    LOOP
        RETURN QUERY EXECUTE format(
            'SELECT %L::text, (SELECT value FROM %I.shard_metadata WHERE key = ''data_source''), '
            'EXISTS (SELECT FROM %I.shard_metadata WHERE key = ''compilation'')',
            schema_name, schema_name, schema_name);
    END LOOP;
END
$$;

REVOKE EXECUTE ON FUNCTION python_float_text(double precision), project_samples(text, integer[]),
    compilations() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION python_float_text(double precision), project_samples(text, integer[]),
    compilations() TO :"reader_role";

RESET ROLE;
