// Reference encodings of GPT-2's own algorithm (OpenAI's encoder.py, as npm
// gpt-3-encoder ports it to JavaScript) for every string of a JSON corpus:
// {"reference": "...", "cases": [{"text", "ids"}]}. encoder.py has no
// special tokens: "<|endoftext|>" inside text is split like any text, so
// strings holding it are left out.
//
// usage: node encode_openai.mjs CORPUS.json
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const { encode } = require("gpt-3-encoder");
const here = dirname(fileURLToPath(import.meta.url));
const version = JSON.parse(readFileSync(join(here, "node_modules/gpt-3-encoder/package.json"), "utf8")).version;
const corpus = JSON.parse(readFileSync(process.argv[2], "utf8"));
const cases = corpus.filter((t) => !t.includes("<|endoftext|>")).map((text) => ({ text, ids: encode(text) }));
process.stdout.write(
  JSON.stringify({ reference: `gpt-3-encoder ${version}`, cases }, null, 0).replace(/\},\{"text"/g, '},\n{"text"') + "\n",
);
