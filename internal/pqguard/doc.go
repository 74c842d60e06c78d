// Package pqguard checks the structure of a parquet file before parquet-go
// reads it, so that a corrupt or hostile file costs about its own size in
// memory and fails with an error instead of exhausting memory or the stack.
//
// parquet-go trusts the sizes written in a file. It allocates the buffer that
// the footer length, a thrift list or string length or a page header claims
// before reading the bytes behind the claim, and it decodes nested thrift
// structs recursively without a bound. A few flipped bytes in a kilobyte file
// can thus make it allocate gigabytes or overflow the goroutine stack, which
// is a fatal error that no recover catches. The checks here read the same
// bytes first, without decoding more than a page header, and refuse:
//
//   - a footer longer than the file, or missing its PAR1 magic (Open);
//   - thrift structs, lists and maps nested more than MaxThriftDepth deep, and
//     strings or collections that claim more bytes than remain (Thrift);
//   - column chunks whose offsets lie outside the column data (Chunk);
//   - pages that claim more bytes than their chunk holds, an uncompressed size
//     above Limits.MaxPageBytes or above Limits.MaxPageRatio times their
//     compressed size, and page headers larger than 16 MiB (Chunk);
//   - value counts that are negative, above MaxPageValues in one page, or, in
//     a column that is not repeated, that differ from the row group's rows
//     (Chunk);
//   - column chunks compressed with LZ4_RAW, which parquet-go v0.32 reads as
//     zeros or decodes into an ever-growing buffer (ErrLZ4Raw, Chunk).
//
// Errors about the file's content are plain errors that describe the fault
// and its byte offset; callers add the file name and column (trajlog wraps them
// in a *trajlog.ValidationError). Errors of the io.ReaderAt itself come as a
// *ReadError, so that callers can tell a failing disk from a bad file.
package pqguard
