// decimal_fixtures.mjs DIR: writes the DECIMAL parquet fixtures of
// testdata/decimal with DuckDB, so that the Go tests check gradcouple's
// readers against files written by an independent writer without needing
// DuckDB themselves. Run from this directory after `npm install`:
//
//   node decimal_fixtures.mjs ../../testdata/decimal
//
// DuckDB stores DECIMAL(p,s) as INT32 for p <= 9, INT64 for p <= 18 and
// FIXED_LEN_BYTE_ARRAY above, so the three widths below cover the three
// physical types DuckDB writes. (BYTE_ARRAY decimals, which some Java writers
// produce, are written by the Go tests themselves.)
import { DuckDBInstance } from '@duckdb/node-api';
import path from 'node:path';

function sqlString(s) {
  return "'" + s.replaceAll("'", "''") + "'";
}

const fixtures = {
  // A sample table (--samples of an external gradient store, or a probe
  // file): advantage 1.0 as DECIMAL(2,1) (INT32) must be read as 1.0, not 10.
  'samples.parquet': `
    SELECT * FROM (VALUES
      (0, 1, 1.0::DECIMAL(2,1), 1.4994::DECIMAL(10,6), 1.4994::DECIMAL(20,6), 's0', 'p0'),
      (1, 0, -0.5::DECIMAL(2,1), -2.5::DECIMAL(10,6), -123456789012.345678::DECIMAL(20,6), 's1', 'p1'),
      (2, 0, 0.3::DECIMAL(2,1), 0.000001::DECIMAL(10,6), 0.1::DECIMAL(20,6), 's2', 'p2')
    ) t(row, label, advantage, adv_int64, adv_fixed, state_key, prompt)`,
  // A TRL completion table whose reward and advantage columns were rewritten
  // by DuckDB: a TRL advantage of 1.4994 as DECIMAL(10,6) (INT64) is 1499400
  // when read as an integer.
  'completions_00001.parquet': `
    SELECT * FROM (VALUES
      (1, 'Solve 1+1.', ' 2', 1.0::DECIMAL(2,1), 0.5::DECIMAL(20,6), 1.4994::DECIMAL(10,6)),
      (1, 'Solve 1+1.', ' 3', 0.0::DECIMAL(2,1), 0.25::DECIMAL(20,6), -1.4994::DECIMAL(10,6))
    ) t(step, prompt, completion, accuracy_reward, format_reward, advantage)`,
  // A canonical step-record file re-written by DuckDB with its float columns
  // as decimals (the key-value metadata keeps the schema version).
  'iter-000001.parquet': `
    SELECT run, iteration::INTEGER AS iteration, split, env, task_type, task_id, group_id, traj_id,
           turn::INTEGER AS turn, state_key, prompt, action, valid,
           logprob::DECIMAL(10,6) AS logprob, label::TINYINT AS label, label_votes::TINYINT AS label_votes,
           corrected, step_reward::DECIMAL(2,1) AS step_reward, outcome::DECIMAL(2,1) AS outcome, success,
           advantage::DECIMAL(20,6) AS advantage
    FROM (VALUES
      ('r', 1, 'train', 'household', 'pick', 't1', 'g1', 't1-0', 0, 's0', 'You are in a room.', 'look', true,
       -1.25, -1, 0, false, 0.0, 1.0, true, 0.707107),
      ('r', 1, 'train', 'household', 'pick', 't1', 'g1', 't1-1', 0, 's0', 'You are in a room.', 'go north', true,
       -0.5, -1, 0, false, 0.5, 0.0, false, -0.707107)
    ) t(run, iteration, split, env, task_type, task_id, group_id, traj_id, turn, state_key, prompt, action,
        valid, logprob, label, label_votes, corrected, step_reward, outcome, success, advantage)`,
};

async function main() {
  const dir = process.argv[2];
  if (!dir) {
    process.stderr.write('usage: node decimal_fixtures.mjs DIR\n');
    process.exit(1);
  }
  const instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  for (const [name, query] of Object.entries(fixtures)) {
    const out = path.join(dir, name);
    let opts = "FORMAT parquet";
    if (name.startsWith('iter-')) {
      opts += ", KV_METADATA {'gradcouple.schema_version': '1'}";
    }
    await conn.run(`COPY (${query}) TO ${sqlString(out)} (${opts})`);
    const r = await conn.runAndReadAll(`SELECT name, type, converted_type, scale, precision FROM parquet_schema(${sqlString(out)})`);
    process.stdout.write(name + ': ' + JSON.stringify(r.getRows().filter((x) => x[4] !== null && x[4] !== undefined).map((x) => `${x[0]} ${x[1]} ${x[2]}(${x[4]},${x[3]})`)) + '\n');
  }
}

main().catch((e) => {
  process.stderr.write(String(e) + '\n');
  process.exit(1);
});
