// Reference chat-template renderings for policy/chat: renders every case of
// a JSON case file with @huggingface/jinja and prints one JSON document
//   {"reference": "...", "now": "...", "cases": [{"name", "output"} or {"name", "error"}]}
//
// A case names a template directory under the fixtures directory; its
// template is chat_template.jinja there, else tokenizer_config.json's
// chat_template (a string, or a list of {name, template}: "default"), as
// transformers looks it up. The variables are those transformers'
// apply_chat_template passes: messages, tools (null when none),
// add_generation_prompt, the special tokens of tokenizer_config.json
// (bos_token, eos_token, unk_token, pad_token), then the case's vars.
// strftime_now sees a fixed clock (NOW, UTC) so the output is reproducible.
//
// usage: node render.mjs FIXTURES_DIR CASES.json
import { readFileSync, existsSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { Template } from "@huggingface/jinja";

process.env.TZ = "UTC";
const NOW = "2024-07-26T12:00:00Z";
const RealDate = Date;
globalThis.Date = class extends RealDate {
  constructor(...args) {
    super(...(args.length === 0 ? [NOW] : args));
  }
  static now() {
    return new RealDate(NOW).getTime();
  }
};

const here = dirname(fileURLToPath(import.meta.url));
const version = JSON.parse(
  readFileSync(join(here, "node_modules/@huggingface/jinja/package.json"), "utf8"),
).version;

const [fixtures, casesPath] = process.argv.slice(2);
if (!casesPath) {
  console.error("usage: node render.mjs FIXTURES_DIR CASES.json");
  process.exit(2);
}

function tokenContent(v) {
  if (v === null || v === undefined) return undefined;
  return typeof v === "string" ? v : v.content;
}

function loadTemplate(dir) {
  const cfgPath = join(dir, "tokenizer_config.json");
  const cfg = existsSync(cfgPath) ? JSON.parse(readFileSync(cfgPath, "utf8")) : {};
  let source;
  if (existsSync(join(dir, "chat_template.jinja"))) {
    source = readFileSync(join(dir, "chat_template.jinja"), "utf8");
  } else if (typeof cfg.chat_template === "string") {
    source = cfg.chat_template;
  } else if (Array.isArray(cfg.chat_template)) {
    source = cfg.chat_template.find((t) => t.name === "default")?.template;
  }
  if (source === undefined) throw new Error(`${dir}: no chat template`);
  const specials = {};
  for (const k of ["bos_token", "eos_token", "unk_token", "pad_token"]) {
    const v = tokenContent(cfg[k]);
    if (v !== undefined) specials[k] = v;
  }
  return { template: new Template(source), specials };
}

const cases = JSON.parse(readFileSync(casesPath, "utf8"));
const loaded = new Map();
const out = cases.map((c) => {
  if (!loaded.has(c.template)) loaded.set(c.template, loadTemplate(join(fixtures, c.template)));
  const { template, specials } = loaded.get(c.template);
  const vars = {
    messages: c.messages,
    tools: c.tools ?? null,
    add_generation_prompt: c.add_generation_prompt ?? false,
    ...specials,
    ...(c.vars ?? {}),
  };
  try {
    return { name: c.name, output: template.render(vars) };
  } catch (e) {
    return { name: c.name, error: String(e.message ?? e) };
  }
});
process.stdout.write(
  JSON.stringify({ reference: `@huggingface/jinja ${version}`, now: NOW, cases: out }, null, 1) + "\n",
);
