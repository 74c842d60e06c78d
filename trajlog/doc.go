// Package trajlog holds the step record, the canonical row of every
// trajectory log (DESIGN.md §3.1), and streams it to and from files.
//
// # Formats
//
// The canonical format is parquet, zstd-compressed, one column per Record
// field (names from the struct tags), with the schema version under
// MetadataSchemaKey and file-level facts (run, seed, derived fields) in the
// key-value metadata; ParquetWriter writes it. JSON Lines (one object per
// line, the same names) is the interchange format for tools without a
// parquet reader; JSONLWriter writes it. WriteFile picks the format by
// extension and writes atomically.
//
// # Reading
//
// Open takes a file, a directory (a run directory's logs/), or a glob, and
// returns a Reader that streams records file after file, in natural order
// (iter-2 before iter-10), with memory bounded by one row group's pages per
// column, never by the size of the log. ReadOptions.SkipPrompt drops the
// prompt column, which is most of a log's bytes, without reading it.
//
// # Bad input
//
// Readers check before they trust: the parquet footer and every page header
// are walked for lengths that do not fit the file before parquet-go decodes
// them, the schema is compared with Record's, and every row is validated
// (Record.Validate). Bad data gives a *ValidationError naming the file, the
// row (the line, for JSONL) and the field; no input makes a reader panic.
// Writers validate too: a NaN advantage is never written.
package trajlog
