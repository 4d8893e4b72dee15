-- Functions the query API's statements call (snapthunder/query.py builds them).
-- Run by psql as the superuser after 03-load.sql; owned by the loader role like
-- the schema, and executable by the reader role (the API) and nobody else.

SET ROLE :"loader_role";

-- A recomputed statistic printed as Snaptron prints it after a `sids=`
-- projection: Python 2's str() of a float, i.e. C's `%.12g` with `.0` on whole
-- numbers (`2.0`, `1.25`, `6359.5`, `2.33333333333`, `1e+18`, `2.7e-05`; `inf`,
-- `nan`). Stored values never go through this: they keep the file's text.
-- PostgreSQL prints a float with `%.*g` at 15 + extra_float_digits significant
-- digits when that setting is 0 or less, so -3 is `%.12g` itself (rounded by C's
-- printf on the exact binary value, as Python rounds). Measured over 25,437
-- values: 3.4x faster than the to_char form this replaced (94 vs 319 ms),
-- which also printed fractions below 0.001 with too few digits.
CREATE FUNCTION python_float_text(value double precision) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET extra_float_digits = -3 AS $$
    SELECT CASE WHEN value = 'Infinity' THEN 'inf' WHEN value = '-Infinity' THEN '-inf'
                WHEN value = 'NaN' THEN 'nan'
                WHEN strpos(printed, '.') > 0 OR strpos(printed, 'e') > 0 THEN printed
                ELSE printed || '.0' END
    FROM (SELECT value::text AS printed) AS formatted
$$;

-- Snaptron's `sids=` projection of one junction: the `,sid:count` entries of
-- `samples` whose sid is wanted, in their original order, and the statistics
-- recomputed over them as numpy does (mean; median the mean of the two middle
-- counts for an even number). The sum is numeric, so counts that add up past
-- 2^63 still answer. Always one row: samples_count 0 (and NULLs) when no
-- wanted sample is there. Done here rather than in the API so that the sample
-- lists, the bulk of the bytes, never cross the network for rows that the
-- projection drops. Up to 16 wanted sids, one regular expression finds their
-- entries (`,0*(17|5):[0-9]+`, the leading zeros because `017` is sid 17),
-- where splitting every entry costs 0.7 ms on a row of 1,000 samples: 7x
-- faster for one sid, 1.3x for 16, slower past that, where the split is kept
-- (measured on 1.5 M junctions).
CREATE FUNCTION project_samples(samples text, wanted integer[])
RETURNS TABLE (samples text, samples_count integer, coverage_sum numeric,
               coverage_avg double precision, coverage_median double precision)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT string_agg(',' || entry.item, '' ORDER BY entry.position),
           count(*)::integer,
           sum(entry.reads),
           sum(entry.reads)::double precision / count(*),
           percentile_cont(0.5) WITHIN GROUP (ORDER BY entry.reads::double precision)
    FROM (SELECT found.match[1] AS item, found.position, split_part(found.match[1], ':', 2)::numeric AS reads
          FROM regexp_matches(samples, ',(0*(?:' || array_to_string(wanted, '|') || '):[0-9]+)', 'g')
               WITH ORDINALITY AS found(match, position)
          WHERE cardinality(wanted) <= 16
          UNION ALL
          SELECT piece.item, piece.position, split_part(piece.item, ':', 2)::numeric
          FROM unnest(string_to_array(substr(samples, 2), ',')) WITH ORDINALITY AS piece(item, position)
          WHERE cardinality(wanted) > 16 AND split_part(piece.item, ':', 1)::integer = ANY (wanted)) AS entry
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

-- True while the compilation's last committed load is `load_id`; otherwise the
-- statement fails with SQLSTATE SN001. An API worker keeps the gene names it has
-- looked up with the load they came from (images/ui/snapthunder_api/name_cache.py), and
-- a statement whose regions came from that cache carries this check
-- (statements._from_where): gene names change only by a load, and every load
-- records its id on every shard in its own transaction (loaders/two_phase.py), so
-- the rows come only if the cached loci are still what the shard holds. Called
-- with a constant, it runs once per statement, before the first row.
CREATE FUNCTION last_load_is(load_id text) RETURNS boolean LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF load_id IS DISTINCT FROM (SELECT value FROM shard_metadata WHERE key = 'last_load_id') THEN
        RAISE EXCEPTION 'the compilation was loaded again after this API worker looked up its gene names'
            USING ERRCODE = 'SN001', HINT = 'the API looks them up again and retries';
    END IF;
    RETURN true;
END
$$;

REVOKE EXECUTE ON FUNCTION python_float_text(double precision), project_samples(text, integer[]),
    compilations(), last_load_is(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION python_float_text(double precision), project_samples(text, integer[]),
    compilations(), last_load_is(text) TO :"reader_role";

RESET ROLE;
