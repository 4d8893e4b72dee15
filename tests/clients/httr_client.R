# What snapcount does on the wire, with the same R libraries (httr, jsonlite) and their defaults:
# fetch the registry as //snaptron/registry and drop its first 7 bytes before parsing the JSON,
# run a junction query and refuse any answer whose Content-Type is not exactly text/plain, read
# //<compilation>/samples?all=1 as TSV, and HEAD a query. Written for snapthunder's tests from
# the wire description in docs/API.md; prints one `name: value` line per finding.
# Usage: Rscript httr_client.R BASE_URL COMPILATION
suppressPackageStartupMessages({
  library(httr)
  library(jsonlite)
})
arguments <- commandArgs(trailingOnly = TRUE)
base <- arguments[1]
compilation <- arguments[2]

registry <- GET(paste0(base, "//snaptron/registry"))
stopifnot(status_code(registry) == 200)
bytes <- content(registry, as = "raw")
parsed <- fromJSON(rawToChar(bytes[8:length(bytes)]))
cat("prefix:", rawToChar(bytes[1:6]), "\n")
cat("compilations:", paste(sort(names(parsed)), collapse = ","), "\n")
cat("field_types:", parsed[[compilation]][["rail_id"]], parsed[[compilation]][["all"]], "\n")

query <- GET(paste0(base, "/", compilation, "/snaptron?regions=chr1:1000000-1100000&rfilter=samples_count>:5"))
type <- headers(query)[["content-type"]]
if (status_code(query) != 200 || type != "text/plain") stop("API did not return tsv: ", type)
rows <- read.delim(text = content(query, as = "text", encoding = "UTF-8"), quote = "", check.names = FALSE)
cat("rows:", nrow(rows), "\n")
cat("first_column:", names(rows)[1], "\n")
cat("min_samples_count:", min(rows$samples_count), "\n")

samples <- GET(paste0(base, "//", compilation, "/samples?all=1"))
stopifnot(headers(samples)[["content-type"]] == "text/plain")
table <- read.delim(text = content(samples, as = "text", encoding = "UTF-8"), quote = "")
cat("samples:", nrow(table), "\n")

head <- HEAD(paste0(base, "/", compilation, "/snaptron?regions=chr1:1-2"))
cat("head:", status_code(head), headers(head)[["content-type"]], "\n")
