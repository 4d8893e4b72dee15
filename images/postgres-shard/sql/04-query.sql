-- Functions the query API's statements call (snapthunder/query.py builds them).
-- Run by psql as the superuser after 03-load.sql; owned by the loader role like
-- the schema, and executable by the reader role (the API) and nobody else.

SET ROLE :"loader_role";

-- A coverage value printed the way Snaptron's junction file prints it: `4.622`,
-- `4.5`, `3.0`. float8's own text form drops the `.0` of whole numbers (`3`), so
-- without this the API's lines would differ from the file's. Inlined by the
-- planner (one SQL expression), it costs a comparison per value.
CREATE FUNCTION snaptron_decimal(value double precision) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN value = trunc(value) AND abs(value) < 1e15
                THEN trunc(value)::bigint::text || '.0'
                ELSE value::text END
$$;

-- Snaptron's `sids=` projection of one junction: the `,sid:count` entries of
-- `samples` whose sid is wanted, in their original order, and the statistics
-- recomputed over them (average rounded to 3 decimals as in the file, median
-- the mean of the two middle counts for an even number, as numpy's). Always
-- one row: samples_count 0 (and NULLs) when no wanted sample is there.
-- Done here rather than in the API so that the sample lists, the bulk of the
-- bytes, never cross the network for rows that the projection drops.
CREATE FUNCTION project_samples(samples text, wanted integer[])
RETURNS TABLE (samples text, samples_count integer, coverage_sum bigint,
               coverage_avg double precision, coverage_median double precision)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT string_agg(',' || entry.item, '' ORDER BY entry.position),
           count(*)::integer,
           sum(entry.reads)::bigint,
           round(avg(entry.reads), 3)::double precision,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY entry.reads)
    FROM (SELECT piece.item, piece.position,
                 split_part(piece.item, ':', 1)::integer AS sid,
                 split_part(piece.item, ':', 2)::bigint AS reads
          FROM unnest(string_to_array(substr(samples, 2), ',')) WITH ORDINALITY AS piece(item, position)) AS entry
    WHERE entry.sid = ANY (wanted)
$$;

REVOKE EXECUTE ON FUNCTION snaptron_decimal(double precision), project_samples(text, integer[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION snaptron_decimal(double precision), project_samples(text, integer[]) TO :"reader_role";

RESET ROLE;
