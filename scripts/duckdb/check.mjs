// check.mjs FILE: reads a parquet file with DuckDB and prints one JSON
// document on stdout:
//
//   {"duckdb": version,
//    "columns": [{"name": ..., "type": ...}, ...],   // DuckDB's types
//    "rows": [{"run": ..., ...}, ...],               // every row, file order
//    "kv_metadata": {"key": "value", ...}}           // parquet_kv_metadata
//
// It is the independent reader that the Go tests of package trajlog compare
// the writer against (GRADCOUPLE_DUCKDB=1 go test ./trajlog/ -run DuckDB).
// Numbers are written so that nothing is lost in JSON: -0 as the string "-0",
// NaN and infinities as "NaN", "Infinity", "-Infinity", 64-bit integers as
// decimal strings. Exit status 1 with a message on stderr on any error.
import duckdb, { DuckDBInstance } from '@duckdb/node-api';

function sqlString(s) {
  return "'" + s.replaceAll("'", "''") + "'";
}

function jsonValue(v) {
  if (typeof v === 'number') {
    if (Object.is(v, -0)) return '-0';
    if (!Number.isFinite(v)) return String(v);
    return v;
  }
  if (typeof v === 'bigint') return v.toString();
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return v;
  if (Array.isArray(v)) return v.map(jsonValue);
  if (typeof v === 'object') {
    const out = {};
    for (const [k, x] of Object.entries(v)) out[k] = jsonValue(x);
    return out;
  }
  return String(v);
}

async function main() {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write('usage: node check.mjs FILE.parquet\n');
    process.exit(2);
  }
  const instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  const src = sqlString(file);

  const reader = await conn.runAndReadAll(`SELECT * FROM read_parquet(${src})`);
  const names = reader.columnNames();
  const types = reader.columnTypes().map((t) => t.toString());
  const rows = reader.getRowObjectsJS().map((row) => {
    const out = {};
    for (const name of names) out[name] = jsonValue(row[name]);
    return out;
  });

  const kvReader = await conn.runAndReadAll(
    `SELECT decode(key) AS key, decode(value) AS value FROM parquet_kv_metadata(${src})`);
  const kv = {};
  for (const { key, value } of kvReader.getRowObjectsJS()) kv[key] = value;

  process.stdout.write(JSON.stringify({
    duckdb: duckdb.version(),
    columns: names.map((name, i) => ({ name, type: types[i] })),
    rows,
    kv_metadata: kv,
  }) + '\n');
  conn.closeSync?.();
}

main().catch((err) => {
  process.stderr.write(`check.mjs: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
