#!/usr/bin/env python3
"""Second reference for policy/chat: renders the cases of a JSON case file
with Python's jinja2 set up as transformers' apply_chat_template sets it up
(transformers/utils/chat_template_utils.py: ImmutableSandboxedEnvironment
with trim_blocks and lstrip_blocks, the loopcontrols extension, a tojson
filter that is json.dumps(ensure_ascii=False, sort_keys=False),
raise_exception and strftime_now globals). Same input, same lookup of the
template and same output format as render.mjs. Needs only python3-jinja2.

usage: python3 render_jinja2.py FIXTURES_DIR CASES.json
"""
import datetime
import json
import os
import sys

import jinja2
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

NOW = "2024-07-26T12:00:00Z"


def token_content(v):
    if v is None:
        return None
    return v if isinstance(v, str) else v.get("content")


def load(d):
    cfg_path = os.path.join(d, "tokenizer_config.json")
    cfg = json.load(open(cfg_path, encoding="utf-8")) if os.path.exists(cfg_path) else {}
    jinja_path = os.path.join(d, "chat_template.jinja")
    if os.path.exists(jinja_path):
        source = open(jinja_path, encoding="utf-8").read()
    elif isinstance(cfg.get("chat_template"), str):
        source = cfg["chat_template"]
    else:
        source = next(t["template"] for t in cfg["chat_template"] if t["name"] == "default")
    specials = {}
    for k in ("bos_token", "eos_token", "unk_token", "pad_token"):
        v = token_content(cfg.get(k))
        if v is not None:
            specials[k] = v
    return source, specials


class TemplateError(Exception):
    pass


def raise_exception(message):
    raise TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def strftime_now(fmt):
    return datetime.datetime.fromisoformat(NOW.replace("Z", "+00:00")).strftime(fmt)


def main():
    fixtures, cases_path = sys.argv[1:3]
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    cache = {}
    out = []
    for c in json.load(open(cases_path, encoding="utf-8")):
        if c["template"] not in cache:
            source, specials = load(os.path.join(fixtures, c["template"]))
            cache[c["template"]] = (env.from_string(source), specials)
        template, specials = cache[c["template"]]
        variables = dict(messages=c["messages"], tools=c.get("tools"),
                         add_generation_prompt=c.get("add_generation_prompt", False))
        variables.update(specials)
        variables.update(c.get("vars") or {})
        try:
            out.append({"name": c["name"], "output": template.render(**variables)})
        except (TemplateError, jinja2.TemplateError) as e:
            out.append({"name": c["name"], "error": str(e)})
    json.dump({"reference": f"jinja2 {jinja2.__version__} (transformers' chat-template environment)", "now": NOW,
               "cases": out}, sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
