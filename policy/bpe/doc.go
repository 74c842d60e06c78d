// Package bpe reads Hugging Face tokenizer.json files of byte-level BPE
// models (Qwen2/2.5, Qwen3, Llama-3.x, SmolLM2, GPT-2) and encodes and
// decodes text with them id for id as the tokenizers library does.
//
// # What is implemented
//
// The pipeline of Hugging Face tokenizers, for these components only:
//
//   - added_tokens (special or not) are matched in the raw text first,
//     leftmost-longest, before any normalization or splitting; those with
//     normalized=true are matched in the normalized text instead. The
//     single_word, lstrip and rstrip flags act as in the Rust
//     AddedVocabulary (single_word: no word character, Rust regex \w, on
//     either side; lstrip/rstrip: the token also takes the white space to its
//     left/right).
//   - normalizer: null, NFC, or a Sequence of those.
//   - pre_tokenizer: a Sequence of Split steps (Regex or String pattern,
//     behavior Isolated or Removed, invert false) and Digits
//     (individual_digits, as SmolLM2 uses) ending with ByteLevel
//     (add_prefix_space, use_regex with the GPT-2 pattern; trim_offsets only
//     changes offsets, which are not returned).
//   - model: BPE with vocab, merges as "a b" strings or ["a", "b"] pairs,
//     ignore_merges, no dropout, byte_fallback false; every one of the 256
//     byte-level symbols must be in the vocabulary.
//   - post_processor: ByteLevel (offsets only), TemplateProcessing (its
//     single-sequence template; see EncodeSpecial), Sequence of those.
//   - decoder: ByteLevel.
//
// Everything else (a Unigram or WordPiece model, byte_fallback, BPE
// dropout, another normalizer, pre-tokenizer, post-processor or decoder,
// Split behaviours MergedWithPrevious, MergedWithNext and Contiguous,
// invert, truncation, padding) is refused by Read with ErrUnsupported and
// the name of the JSON field, never approximated.
//
// # Regular expressions
//
// The Split patterns of Qwen and Llama-3 use lookahead (\s+(?!\S)), which
// Go's regexp cannot compile. They are compiled with
// github.com/dlclark/regexp2/v2 (a backtracking engine with .NET syntax:
// lookaround, \p{L}, \p{N}, inline (?i:...)). A pattern regexp2 cannot
// compile makes Read fail with ErrMalformed; there is no fallback. \s is
// Unicode White_Space and (?i) uses Unicode simple case folding, as in the
// Oniguruma engine the Rust library uses. Character classes follow the
// Unicode version of the Go toolchain's unicode package (15.0.0 in Go
// 1.26): a letter assigned only in a later version can split differently.
// Each regex search has a time limit (Options.RegexTimeout); a pattern that
// backtracks exponentially on some input returns ErrRegexTimeout.
//
// # Special tokens: Encode and EncodeSpecial
//
// Encode is encode(text, add_special_tokens=False): no post-processor
// tokens. This is what a rendered chat template needs (apply_chat_template
// tokenizes with add_special_tokens=False, because the template already
// writes <|begin_of_text|> as text). EncodeSpecial applies
// TemplateProcessing's single template, as encode(text) with the default
// add_special_tokens=True: Llama-3.1's tokenizer.json puts
// <|begin_of_text|> (128000) first; Llama-3's original tokenizer.json and
// Qwen's have no TemplateProcessing, so there EncodeSpecial equals Encode.
//
// # Text that is not UTF-8, and decoding
//
// Encode refuses text that is not valid UTF-8 (ErrInvalidUTF8 with the byte
// offset): Python and JavaScript strings cannot hold such text, so no
// reference behaviour exists to copy. Decode maps tokens back to bytes
// through the ByteLevel decoder; bytes that are not valid UTF-8 (a
// character cut between ids) become U+FFFD per maximal invalid
// subsequence, as Rust's from_utf8_lossy does; DecodeBytes returns the raw
// bytes. skipSpecial drops the added tokens marked special
// (skip_special_tokens=True). transformers' clean_up_tokenization_spaces
// (a Python-side post-step, true in Llama-3's tokenizer_config.json) is not
// applied, so Decode(Encode(s)) == s for every valid UTF-8 s when the
// normalizer is null, and == NFC(s) under NFC.
//
// # Hostile input
//
// Read bounds the file size (Options.MaxBytes), the vocabulary
// (Options.MaxVocab) and the nesting of Sequence components; encoding/json
// bounds JSON nesting. The BPE merge loop is O(n log n) in the length of a
// word (a priority queue, as in the Rust Word::merge_all), so a megabyte of
// one character does not take quadratic time.
//
// # Reference
//
// testdata/hf holds the real tokenizer.json files of Qwen3 and Llama-3/3.1
// and the ids that @huggingface/tokenizers gives for a corpus of strings
// (scripts/hf/encode.mjs); the tests require equality id for id, and with
// GRADCOUPLE_NODE=1 they run the JavaScript reference live.
package bpe
