// scan.mjs FILE [THREADS]: times DuckDB scanning a step-record parquet file,
// the anchor of trajlog's BenchmarkScanParquetDuckDB (DESIGN.md §6). Two
// queries decode every value of every column, with and without the prompt
// column, and fold them into a few aggregates so that nothing is transferred
// to JavaScript. Prints one JSON line:
//   {"rows": n, "threads": t, "full_seconds": s, "skip_prompt_seconds": s}
// with the best wall time of 5 runs each.
import { DuckDBInstance } from '@duckdb/node-api';

const file = process.argv[2];
const threads = Number(process.argv[3] || '2');
if (!file) {
  process.stderr.write('usage: node scan.mjs FILE [THREADS]\n');
  process.exit(2);
}
const src = `read_parquet('${file.replaceAll("'", "''")}')`;
const common = `count(*) AS n, sum(length(run) + length(split) + length(env) + length(task_type)
    + length(task_id) + length(group_id) + length(traj_id) + length(state_key) + length(action)),
  sum(iteration + turn + label + label_votes), sum(valid::int + corrected::int + success::int),
  sum(logprob + step_reward + outcome + advantage)`;
const full = `SELECT ${common}, sum(length(prompt)) FROM ${src}`;
const skip = `SELECT ${common} FROM ${src}`;

async function best(conn, sql) {
  let t = Infinity;
  let rows = 0;
  for (let i = 0; i < 5; i++) {
    const start = process.hrtime.bigint();
    const reader = await conn.runAndReadAll(sql);
    const s = Number(process.hrtime.bigint() - start) / 1e9;
    rows = Number(reader.getRowsJS()[0][0]);
    t = Math.min(t, s);
  }
  return [t, rows];
}

try {
  const instance = await DuckDBInstance.create(':memory:', { threads: String(threads) });
  const conn = await instance.connect();
  const [fullS, rows] = await best(conn, full);
  const [skipS] = await best(conn, skip);
  process.stdout.write(JSON.stringify({ rows, threads, full_seconds: fullS, skip_prompt_seconds: skipS }) + '\n');
} catch (err) {
  process.stderr.write(`scan.mjs: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
}
