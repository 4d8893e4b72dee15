-- The schema of one compilation on a snapthunder shard: the single source of truth for it.
-- Not run when a shard is initialised (initdb/10-snapthunder.sh skips it): the
-- loader runs it, as the loader role, in the compilation's own PostgreSQL schema
-- on every shard, in the transaction of that compilation's first load, with the
-- schema first on search_path (snapthunder/shard_image.py, compilation_schema_sql;
-- the SET ROLE lines are for psql and are left out there). So every object here
-- exists once per compilation; name none by its schema. Column names and order are Snaptron's
-- junction format (docs/API.md); `end` is a keyword and always quoted.
--
-- Every column prints back exactly as the file wrote it, so an unprojected row
-- is the file's line byte for byte: `annotated` is text (0, 1, or, in older
-- compilations, a list of annotation sources), and the coverage values are
-- numeric, which keeps the file's own decimals (`7`, `7.0` and `4.622` all
-- occur, even within one file). The loader accepts integers only in canonical
-- form (no leading zeros), which is how they print.

SET ROLE :"loader_role";

-- Key/value facts about this shard: compilation name, schema version, last load.
CREATE TABLE shard_metadata (
    key   text PRIMARY KEY,
    value text NOT NULL
);
INSERT INTO shard_metadata (key, value) VALUES ('schema_version', '5');

-- Per chromosome held: rows and the longest junction. Overlap queries use
-- max_length to bound their index scan: end >= a implies start >= a - max_length + 1.
CREATE TABLE chromosome_stats (
    chromosome text PRIMARY KEY,
    row_count  bigint  NOT NULL,
    max_length integer NOT NULL
);
-- The same for the gene and exon tables (below).
CREATE TABLE gene_chromosome_stats (LIKE chromosome_stats INCLUDING ALL);
CREATE TABLE exon_chromosome_stats (LIKE chromosome_stats INCLUDING ALL);

-- One row per loaded file: what was loaded, when, and what was rejected.
CREATE TABLE load_history (
    loaded_at     timestamptz NOT NULL DEFAULT now(),
    source        text        NOT NULL,
    rows_loaded   bigint      NOT NULL,
    chromosomes   text[]      NOT NULL
);

-- Each cell of a samples.tsv line that is a number, by 1-based column, NULL for
-- the others (NA, text): what sfilter's numeric clauses compare (`smrin>:8` is
-- numbers[5] >= 8). Cells longer than 30 characters are not numbers here, so
-- no cell can overflow a double and fail the load.
CREATE FUNCTION sample_numbers(line text) RETURNS double precision[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT array_agg(CASE WHEN length(cell.text) <= 30
                           AND cell.text ~ '^[-+]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][-+]?[0-9]+)?$'
                          THEN cell.text::double precision END ORDER BY cell.position)
    FROM unnest(string_to_array(line, E'\t')) WITH ORDINALITY AS cell(text, position)
$$;

-- The compilation's samples.tsv: rail_id and the raw line (metadata columns vary
-- by compilation; the header line is in shard_metadata under 'samples_header',
-- the load's time under 'samples_loaded_at', which /samples?check_for_update=1 prints).
-- sfilter searches two columns PostgreSQL derives from the line as it is loaded
-- (chosen by measurement over 316,000 generated samples; the commit that added
-- them has the figures): `words`, the line's words lowercased ('simple'
-- configuration: no stemming, no stop words) under a GIN index, for text
-- clauses (a word or phrase anywhere; a clause on one column rechecks that
-- cell) and `numbers`, read by a scan for numeric clauses. No parallel
-- workers: gathering an sfilter's matches from workers cost more than it
-- saved. Measured side by side on 316,000 samples: /samples?sfilter=smts:brain
-- (25,526 lines) 92 -> 81 ms, the rail_ids of the same clause that /snaptron
-- projects on 36-45 -> 28 ms; the price is each numeric column's btree of a
-- samples load (index_sample_numbers), built serially, 150 -> 230 ms.
CREATE TABLE sample (
    rail_id integer PRIMARY KEY,
    line    text    NOT NULL,
    words   tsvector GENERATED ALWAYS AS (to_tsvector('simple', line)) STORED,
    numbers double precision[] GENERATED ALWAYS AS (sample_numbers(line)) STORED
) WITH (parallel_workers = 0);
CREATE INDEX sample_words ON sample USING gin (words);
REVOKE EXECUTE ON FUNCTION sample_numbers(text) FROM PUBLIC;

-- The words of each cell of a samples.tsv line, tagged with the cell's
-- 1-based column: `3.brain` for "Brain" in column 3, as to_tsvector('simple')
-- gives that cell alone. A GIN index on it, and not a stored column (the rows,
-- and so every scan of them, stay as wide as they were), is what a text clause
-- on one field searches: `smts:brain` is `sample_cell_words(line) @@
-- sample_cell_query(3, 'brain')`, exact for a one-word value; for a phrase,
-- every word is looked up so, then the cell is rechecked for the phrase
-- (snapthunder/sample_search.py). Measured on one shard of 316,000 generated
-- samples: /samples?sfilter=smts:brain (25,526 lines) 43 -> 33 ms, the time
-- `words` and a recheck of each line's cell took; the index is 66 MB (`words`'
-- 81 MB) and makes that shard's samples load 11-13 -> 23-24 s. Both functions are
-- executable by PUBLIC, PostgreSQL's default, since the reader's statements call them.
-- A tagged word must fit a tsvector entry (2,047 bytes; array_to_tsvector does
-- not check, and cuts a longer one's length): the few words within a tag's
-- length of that limit, which to_tsvector itself keeps, are left out by both
-- functions, so a field clause does not find them (`all:` does).
CREATE FUNCTION sample_cell_words(line text) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT array_to_tsvector(ARRAY(
        SELECT tagged.word
        FROM unnest(string_to_array(line, E'\t')) WITH ORDINALITY AS cell(text, position),
             unnest(tsvector_to_array(to_tsvector('simple', cell.text))) AS word,
             LATERAL (SELECT cell.position || '.' || word) AS tagged(word)
        WHERE octet_length(tagged.word) <= 2047))
$$;
CREATE INDEX sample_cell_words ON sample USING gin (sample_cell_words(line));

-- Every word of `value` as sample_cell_words tags it in column `cell`, AND-ed
-- and quoted for tsquery (a word with a backslash or a quote stays that word);
-- the empty query, which matches no sample, when `value` has no words.
CREATE FUNCTION sample_cell_query(cell integer, value text) RETURNS tsquery
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(string_agg('''' || replace(replace(tagged.word, '\', '\\'), '''', '''''') || '''',
                               ' & ')::tsquery, ''::tsquery)
    FROM unnest(tsvector_to_array(to_tsvector('simple', value))) AS word,
         LATERAL (SELECT cell || '.' || word) AS tagged(word)
    WHERE octet_length(tagged.word) <= 2047
$$;

-- One btree per numeric column of samples.tsv, `sample_number_<column>` on
-- numbers[column], made by each samples load for the columns it types `i` or
-- `f` (the previous load's go first: the columns may differ). What lets a
-- numeric sfilter clause skip the scan of every sample's `numbers`: over
-- 316,000 generated samples, `smrin>:9.5` 79 -> 6.7 ms and `smrin>:9.98`
-- 75 -> 1.2 ms, for 0.3 s of build and 7 MB per column.
CREATE FUNCTION index_sample_numbers(columns integer[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    previous name;
    numeric_column integer;
BEGIN
    FOR previous IN SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()
                    AND tablename = 'sample' AND indexname LIKE 'sample\_number\_%' LOOP
        EXECUTE format('DROP INDEX %I', previous);
    END LOOP;
    FOREACH numeric_column IN ARRAY columns LOOP
        EXECUTE format('CREATE INDEX %I ON sample ((numbers[%s]))', 'sample_number_' || numeric_column,
                       numeric_column);
    END LOOP;
    ANALYZE sample;
END
$$;
REVOKE EXECUTE ON FUNCTION index_sample_numbers(integer[]) FROM PUBLIC;

-- The compilation's samples.groups.tsv, Snaptron's named sets of samples (a
-- study, a tissue): `sids=Brain,Liver` projects on the union of their rail_ids.
-- Loaded with the samples (the file beside samples.tsv), replaced with them.
CREATE TABLE sample_group (
    name      text      PRIMARY KEY,
    long_name text      NOT NULL,
    rail_ids  integer[] NOT NULL
);

-- The genome's RefSeq transcripts (refseq_transcripts_by_hgvs.tsv, UCSC refFlat
-- layout), for gene names in `regions=`: symbol upper-cased, 1-based start,
-- and the file's line, whose order Snaptron's merging of a symbol's
-- transcripts into loci depends on (snapthunder/gene_loci.py merges them).
CREATE TABLE gene_transcript (
    symbol     text    NOT NULL,
    chromosome text    NOT NULL,
    start      integer NOT NULL,
    "end"      integer NOT NULL,
    line       integer NOT NULL
);
CREATE INDEX gene_transcript_symbol ON gene_transcript (symbol, line);

-- The compilation's GENCODE genes (a GFF3 or GTF beside the junctions), for
-- versioned gene ids in `regions=` (ENSG00000171094.15 → its span, exact=1):
-- each `gene` feature keyed by its versioned gene_id, upper-cased, 1-based.
-- Every shard holds them all, like the RefSeq transcripts (loaders/gencode.py).
CREATE TABLE gencode_gene (
    gene_id    text    PRIMARY KEY,
    chromosome text    NOT NULL,
    start      integer NOT NULL,
    "end"      integer NOT NULL
);

-- The compilation's all_transcripts.gtf.bgz, what /annotations answers: each
-- shard holds the transcripts of its chromosomes (the shard plan routes
-- them), the GTF line's nine columns as written (rows print back byte for
-- byte), its line number (the file's order: interval regions answer in it),
-- and its rank for gene regions, (#exons + 100000 if it has a CDS span)
-- (loaders/transcripts.py, snapthunder/annotation_query.py).
CREATE TABLE annotation_transcript (
    chromosome text    NOT NULL,
    source     text    NOT NULL,
    feature    text    NOT NULL,
    start      integer NOT NULL,
    "end"      integer NOT NULL,
    score      text    NOT NULL,
    strand     text    NOT NULL,
    frame      text    NOT NULL,
    attributes text    NOT NULL,
    line       integer NOT NULL,
    rank       integer NOT NULL
);
CREATE INDEX annotation_transcript_region ON annotation_transcript (chromosome, start, "end");

-- samples.tsv's columns in header order with Snaptron's type letter (t text,
-- i integer, f float): what GET /snaptron/registry lists for the compilation.
CREATE TABLE sample_field (
    position integer PRIMARY KEY,
    name     text    NOT NULL,
    type     text    NOT NULL CHECK (type IN ('t', 'i', 'f', 'n'))
);

CREATE TABLE intron (
    snaptron_id       bigint           NOT NULL,
    chromosome        text             NOT NULL,
    start             integer          NOT NULL,
    "end"             integer          NOT NULL,
    length            integer          NOT NULL,
    strand            text             NOT NULL,
    annotated         text             NOT NULL,
    left_motif        text             NOT NULL,
    right_motif       text             NOT NULL,
    left_annotated    text             NOT NULL,
    right_annotated   text             NOT NULL,
    samples           text             NOT NULL,
    samples_count     integer          NOT NULL,
    coverage_sum      bigint           NOT NULL,
    coverage_avg      numeric          NOT NULL,
    coverage_median   numeric          NOT NULL,
    source_dataset_id integer          NOT NULL
);

-- Snaptron's gene and exon coverage rows (genes.bgz, exons.bgz): the junction
-- file's 17 columns, under the junction names the query language uses, with
-- other meanings for some (snapthunder/features.py: columns 7-9 empty, 10 the
-- exon count, 11 gene_id:gene_name:gene_type:bp_length), and their own
-- snaptron_id space. Same shape, same indexes, same load functions.
CREATE TABLE gene (LIKE intron);
CREATE TABLE exon (LIKE intron);

-- The rail_ids a `samples` list names, in its order (`,17:3,5:1` → {17,5}): the
-- key of the sample index below. The loader checks the list's form
-- (`(,digits:digits)+`, ids of at most 9 digits), so the cast cannot fail.
-- Inlined by the planner, so a query's `sample_ids(intron.samples) && …`
-- matches the index expression. Left executable by every role (PostgreSQL's
-- default): the reader's statements call it, and it reads nothing.
CREATE FUNCTION sample_ids(samples text) RETURNS integer[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ('{' || regexp_replace(substr(samples, 2), ':[0-9]+', '', 'g') || '}')::integer[]
$$;

-- The indexes of an intron (or gene, or exon) table, in one place: the initial tables and every
-- table a load builds get exactly these. Chosen by measurement (README, "Index
-- choice"): the (chromosome, start, end) key serves the paper's windows and,
-- with the max_length bound, overlap queries, in output order with no sort;
-- INCLUDE (samples_count) lets counts with the common samples_count filter run
-- as index-only scans. The primary key serves ids= and rejects duplicate ids.
-- The GIN index on sample_ids(samples) finds a sample's junctions without
-- reading the others (`sids=17` with no region): chosen over a side table of
-- (rail_id, snaptron_id) pairs, as fast but 6x the table's size (README,
-- "Sample index, measured"). The (chromosome, samples_count) and (chromosome,
-- coverage_sum) keys make a genome-wide `rfilter=` on either one range per
-- chromosome, counted from the index alone, instead of a scan of the table
-- (README, "Genome-wide filters, measured").
CREATE FUNCTION create_intron_indexes(table_name text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I PRIMARY KEY (snaptron_id)',
                   table_name, table_name || '_pkey');
    EXECUTE format('CREATE INDEX %I ON %I (chromosome, start, "end") INCLUDE (samples_count)',
                   table_name || '_region', table_name);
    EXECUTE format('CREATE INDEX %I ON %I USING gin (sample_ids(samples))',
                   table_name || '_samples', table_name);
    EXECUTE format('CREATE INDEX %I ON %I (chromosome, samples_count)', table_name || '_samples_count', table_name);
    EXECUTE format('CREATE INDEX %I ON %I (chromosome, coverage_sum)', table_name || '_coverage_sum', table_name);
END
$$;

SELECT create_intron_indexes('intron');
SELECT create_intron_indexes('gene');
SELECT create_intron_indexes('exon');
REVOKE EXECUTE ON FUNCTION create_intron_indexes(text) FROM PUBLIC;

RESET ROLE;
