// Package pqnum reads numbers from parquet columns according to their
// logical type, so that every reader of parquet files in gradcouple (step
// records, TRL completion tables, sample tables) decodes them the same way.
//
// A parquet column stores a number in a physical type (INT32, INT64, FLOAT,
// DOUBLE, FIXED_LEN_BYTE_ARRAY, BYTE_ARRAY) and may annotate it with a logical
// type that changes its meaning. The annotation that matters most is
// DECIMAL(p,s), which DuckDB, Spark and pandas (with decimal.Decimal values)
// write: the stored integer u (INT32, INT64, or big-endian two's complement
// bytes) stands for u * 10^-s. Read as a plain integer, 1.0 stored as
// DECIMAL(2,1) would be 10. Unsigned integer annotations (UINT_32, UINT_64)
// are read as unsigned for the same reason.
//
// Column (from Of) classifies a column once; its methods then convert values.
// Columns whose type is not a number (strings, booleans, dates, timestamps,
// FLOAT16, ...) are refused by Of with an error that says why, so that callers
// can name the file and column.
package pqnum
