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
// # Token ids
//
// Two optional columns carry the exact tokens: prompt_ids, the token ids the
// actor was conditioned on, and action_ids, the ids it produced (Record.PromptIDs
// and Record.ActionIDs, []int32). Trainers that log ids (verl and verl-agent
// batches, rLLM steps) give them to the adapters, and exact scoring prefers
// them to the text, which loses what decoding drops: verl decodes with
// skip_special_tokens=True, so chat-template markers such as <|im_start|>
// are gone from the prompt text. The rules (Record.Validate):
//
//   - both lists empty (the log has no ids) or both non-empty; a record with
//     one and not the other is an error naming the empty one;
//   - every id >= 0; at most MaxTokenIDs (1<<20) ids per list. An upper bound
//     (the model's vocabulary size) is checked by the model code that scores
//     the ids, not here.
//
// In parquet each is a LIST of INT32 in the standard 3-level layout
// (optional group prompt_ids (LIST) { repeated group list { required int32
// element } }), null for a record without ids. The reader also takes the
// layouts pyarrow and DuckDB write (optional elements that are never null,
// INT64 elements whose values fit in int32, as pyarrow writes Python ints),
// the 2-level legacy form and a bare repeated integer column; a file has both
// columns or neither, and a file without them (every file written before they
// existed) reads with the ids nil. In JSONL they are arrays of integers
// ("prompt_ids": [151644, 8948, 198]), left out of a line when empty; a
// fraction, a negative id, an id beyond int32, a string or null element is
// an error naming the line and field. Readers return nil, never an empty
// slice, for a record without ids. ReadOptions.SkipPrompt skips both columns
// along with the prompt. Adding the columns kept SchemaVersion at "1".
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
// them, the schema is compared with Record's, the rows of a list column are
// counted from its repetition levels against the row group's, and every row
// is validated (Record.Validate). Bad data gives a *ValidationError naming the file, the
// row (the line, for JSONL) and the field; no input makes a reader panic.
// Writers validate too: a NaN advantage is never written.
package trajlog
