// ids_fixtures.mjs DIR: writes the token-id parquet fixtures of
// testdata/trajlog/ids with DuckDB, so that the Go tests check gradcouple's
// reader of the prompt_ids and action_ids list columns against files written
// by an independent writer, without needing DuckDB themselves. Run from this
// directory after `npm install`:
//
//   node ids_fixtures.mjs ../../testdata/trajlog/ids
//
// DuckDB writes a list as parquet's 3-level LIST, the layout pyarrow writes
// too: optional group NAME (LIST) { repeated group list { optional TYPE
// element } }, with INT32 elements for INTEGER[] and INT64 for BIGINT[] (the
// type pyarrow gives Python ints). The values follow formulas that
// trajlog/ids_test.go recomputes:
//
//   row i (0-based) of N:
//     i % 5 == 3: both lists NULL; i % 5 == 4: both lists empty;
//     otherwise prompt_ids[j] = (i*7919 + j*31) % 151936 for j < plen(i),
//               action_ids[j] = (i + j) % 151936 for j < i % 7 + 1,
//     plen(i) = 3000 for i == 7, else i % 20 + 1;
//     row 12's action_ids end with 2147483647 (the largest int32).
//
// The bad fixtures, bad-duckdb-ids-*.parquet, hold one defect each, in row
// i = 6 (the 7th): a NULL element, a BIGINT beyond int32, a negative id, and
// prompt_ids without action_ids in the row. They are not in
// testdata/malformed, whose every file `gradcouple inspect --strict` must
// refuse: inspect scans with SkipPrompt, which does not read the token ids.
import { DuckDBInstance } from '@duckdb/node-api';
import path from 'node:path';

function sqlString(s) {
  return "'" + s.replaceAll("'", "''") + "'";
}

function query(n, type, prompt, action) {
  return `
    SELECT 'duck' AS run, (i // 100)::INTEGER AS iteration, 'train' AS split, 'household' AS env,
           'pick' AS task_type, 't' || (i // 8) AS task_id, 'g' || (i // 8) AS group_id,
           'traj-' || (i // 4) AS traj_id, (i % 4)::INTEGER AS turn, 's' || i AS state_key,
           'prompt ' || i AS prompt, 'act ' || i AS action, true AS valid, (-0.5)::FLOAT AS logprob,
           (-1)::TINYINT AS label, 0::TINYINT AS label_votes, false AS corrected,
           0::FLOAT AS step_reward, 1::FLOAT AS outcome, true AS success, 0.25::FLOAT AS advantage,
           ${prompt} AS prompt_ids, ${action} AS action_ids
    FROM (SELECT range::BIGINT AS i FROM range(${n}))`;
}

const prompt = (type) => `CASE WHEN i % 5 = 3 THEN NULL WHEN i % 5 = 4 THEN []::${type}[]
  ELSE list_transform(range(CASE WHEN i = 7 THEN 3000 ELSE i % 20 + 1 END), j -> ((i * 7919 + j * 31) % 151936)::${type}) END`;
const action = (type) => `CASE WHEN i % 5 = 3 THEN NULL WHEN i % 5 = 4 THEN []::${type}[]
  WHEN i = 12 THEN list_append(list_transform(range(i % 7), j -> ((i + j) % 151936)::${type}), 2147483647::${type})
  ELSE list_transform(range(i % 7 + 1), j -> ((i + j) % 151936)::${type}) END`;
const bad = (type, expr, good) => `CASE WHEN i = 6 THEN ${expr} ELSE ${good} END`;

const fixtures = {
  // Three row groups (ROW_GROUP_SIZE 1000 below), one list of 3000 ids.
  'duckdb-int32.parquet': query(2500, 'INTEGER', prompt('INTEGER'), action('INTEGER')),
  // INT64 elements, as pyarrow writes a list of Python ints.
  'duckdb-int64.parquet': query(300, 'BIGINT', prompt('BIGINT'), action('BIGINT')),
  'bad-duckdb-ids-null-element.parquet': query(20, 'INTEGER', bad('INTEGER', '[5, NULL, 7]::INTEGER[]', prompt('INTEGER')), action('INTEGER')),
  'bad-duckdb-ids-int64-overflow.parquet': query(20, 'BIGINT', prompt('BIGINT'), bad('BIGINT', '[1, 2147483648]::BIGINT[]', action('BIGINT'))),
  'bad-duckdb-ids-negative.parquet': query(20, 'BIGINT', bad('BIGINT', '[3, -1]::BIGINT[]', prompt('BIGINT')), action('BIGINT')),
  'bad-duckdb-ids-unpaired.parquet': query(20, 'INTEGER', prompt('INTEGER'), bad('INTEGER', 'NULL::INTEGER[]', action('INTEGER'))),
};

async function main() {
  const dir = process.argv[2];
  if (!dir) {
    process.stderr.write('usage: node ids_fixtures.mjs DIR\n');
    process.exit(1);
  }
  const instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  for (const [name, q] of Object.entries(fixtures)) {
    const out = path.join(dir, name);
    const opts = "FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 1000, KV_METADATA {'gradcouple.schema_version': '1'}";
    await conn.run(`COPY (${q}) TO ${sqlString(out)} (${opts})`);
    const rg = await conn.runAndReadAll(`SELECT row_group_id, row_group_num_rows FROM parquet_metadata(${sqlString(out)}) WHERE path_in_schema = 'run'`);
    const sc = await conn.runAndReadAll(`SELECT name, type, repetition_type, converted_type FROM parquet_schema(${sqlString(out)}) WHERE name IN ('prompt_ids', 'list', 'element')`);
    process.stdout.write(`${name}: row groups ${JSON.stringify(rg.getRows().map((r) => Number(r[1])))}; ` +
      JSON.stringify(sc.getRows().slice(0, 3).map((r) => r.filter((x) => x !== null).join(' '))) + '\n');
  }
}

main().catch((e) => {
  process.stderr.write(String(e) + '\n');
  process.exit(1);
});
