// Reference encodings for policy/bpe: encodes every string of a JSON corpus
// with @huggingface/tokenizers (the JavaScript port of Hugging Face
// tokenizers) and prints one JSON document:
//   {"reference": "...", "cases": [{"text", "ids", "ids_special",
//     "decoded", "decoded_skip"}, ...]}
// ids: encode(text, {add_special_tokens: false}); ids_special: with true
// (the post-processor's template, e.g. Llama-3.1's <|begin_of_text|>);
// decoded / decoded_skip: decode(ids_special) without and with
// skip_special_tokens, clean_up_tokenization_spaces off.
//
// usage: node encode.mjs TOKENIZER.json[.gz] TOKENIZER_CONFIG.json CORPUS.json
import { readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Tokenizer } from "@huggingface/tokenizers";

const here = dirname(fileURLToPath(import.meta.url));
const version = JSON.parse(
  readFileSync(join(here, "node_modules/@huggingface/tokenizers/package.json"), "utf8"),
).version;

function readJSON(path) {
  let buf = readFileSync(path);
  if (path.endsWith(".gz")) buf = gunzipSync(buf);
  return JSON.parse(buf.toString("utf8"));
}

const [tokPath, cfgPath, corpusPath] = process.argv.slice(2);
if (!corpusPath) {
  console.error("usage: node encode.mjs TOKENIZER.json[.gz] TOKENIZER_CONFIG.json CORPUS.json");
  process.exit(2);
}
const tok = new Tokenizer(readJSON(tokPath), readJSON(cfgPath));
const corpus = readJSON(corpusPath);
const cases = corpus.map((text) => {
  const ids = tok.encode(text, { add_special_tokens: false }).ids;
  const idsSpecial = tok.encode(text, { add_special_tokens: true }).ids;
  const dec = (skip) =>
    idsSpecial.length === 0
      ? ""
      : tok.decode(idsSpecial, { skip_special_tokens: skip, clean_up_tokenization_spaces: false });
  return { text, ids, ids_special: idsSpecial, decoded: dec(false), decoded_skip: dec(true) };
});
process.stdout.write(
  JSON.stringify({ reference: `@huggingface/tokenizers ${version}`, cases }, null, 0)
    .replace(/\},\{"text"/g, '},\n{"text"') + "\n",
);
