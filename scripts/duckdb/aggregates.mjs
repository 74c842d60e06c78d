// aggregates.mjs GLOB: times DuckDB computing, on the step-record parquet files
// matching GLOB, the aggregates that `gradcouple repetition` and
// `gradcouple consistency` compute: per (run, split, iteration) and trajectory
// outcome the trajectories, steps, repeated steps (steps - distinct actions per
// trajectory) and loops (steps - distinct (action, state) pairs); and per
// (run, split, iteration, state) the occurrences, distinct actions and modal
// count, then the eligible states (>= 10 occurrences) per iteration.
// The exact hypergeometric E[modal count] of gradcouple has no SQL form; DuckDB
// does all of the scanning and grouping, which is the whole cost.
//
// Prints one JSON document: {"seconds": best wall time of 3 runs, "threads": n,
// "steps": total, "repetition": [rows], "consistency": [rows]} (64-bit
// integers as numbers, which is exact below 2^53).
import { DuckDBInstance } from '@duckdb/node-api';

const glob = process.argv[2];
const threads = process.argv[3] || '2';
if (!glob) {
  process.stderr.write('usage: node aggregates.mjs GLOB [THREADS]\n');
  process.exit(1);
}
const src = `read_parquet('${glob.replaceAll("'", "''")}')`;
const repetition = `
  WITH t AS (
    SELECT run, split, iteration, traj_id, bool_or(success) AS success, count(*) AS steps,
           count(DISTINCT action) AS acts, count(DISTINCT (action, state_key)) AS pairs
    FROM ${src} GROUP BY ALL)
  SELECT run, split, iteration, success, count(*) AS trajectories, sum(steps) AS steps,
         sum(steps - acts) AS repeated, sum(steps - pairs) AS loops
  FROM t GROUP BY ALL ORDER BY ALL`;
const consistency = `
  WITH a AS (
    SELECT run, split, iteration, state_key, action, count(*) AS c
    FROM ${src} GROUP BY ALL),
  s AS (
    SELECT run, split, iteration, state_key, sum(c) AS n, count(*) AS actions, max(c) AS modal
    FROM a GROUP BY ALL)
  SELECT run, split, iteration, count(*) AS states, count(*) FILTER (WHERE n >= 10) AS eligible,
         avg(modal) FILTER (WHERE n >= 10) AS mean_modal
  FROM s GROUP BY ALL ORDER BY ALL`;

const inst = await DuckDBInstance.create(':memory:', { threads });
const conn = await inst.connect();
let best = Infinity, rep, cons, steps;
for (let i = 0; i < 3; i++) {
  const t0 = process.hrtime.bigint();
  rep = (await conn.runAndReadAll(repetition)).getRowObjects();
  cons = (await conn.runAndReadAll(consistency)).getRowObjects();
  const dt = Number(process.hrtime.bigint() - t0) / 1e9;
  best = Math.min(best, dt);
}
steps = rep.reduce((s, r) => s + Number(r.steps), 0);
const plain = (rows) => rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, typeof v === 'bigint' ? Number(v) : v])));
process.stdout.write(JSON.stringify({ seconds: best, threads: Number(threads), steps, repetition: plain(rep), consistency: plain(cons) }) + '\n');
