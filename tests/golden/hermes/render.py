#!/usr/bin/env python3
"""Generates the Hermes 3 prompt goldens (tests/golden/hermes/*.txt) from
cases.json with the REAL Hermes 3 tool-use Jinja template
(../shared/hermes/llama.cpp-templates/NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja),
rendered the way transformers' apply_chat_template does (jinja2 sandbox,
trim_blocks + lstrip_blocks, tojson = json.dumps(ensure_ascii=False)).

Run once after changing cases.json and commit the outputs:
    python3 tests/golden/hermes/render.py        (needs python3-jinja2 >= 3.1)
    python3 tests/golden/hermes/render.py --check   (compare, do not write)

The gateway-side mapping (src/hermes/hermes.h documents it) is applied here
before the template, so the goldens pin both the template bytes and the
mapping:
  * role "developer" -> "system"; content parts -> text parts joined by "\n";
    content null -> ""; "tool_calls": null -> absent.
  * response_format json_object / json_schema -> a system message
    "You are a helpful assistant that answers in JSON. Here's the json schema
    you must adhere to:\n<schema>\n{schema}\n</schema>" prepended to messages,
    schema = json.dumps(schema) (json_object: {"type": "object"}).
  * tools present and tool_choice != "none" -> the tool-use template;
    otherwise the same template without its tools system header (plain ChatML;
    checked below to equal the official ChatML template on plain chats).
  * tool_choice "required" -> the prompt ends with the prefill "<tool_call>\n";
    a named function f -> '<tool_call>\n{"name": "f", "arguments": '.
"""
import json
import os
import sys

import jinja2
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
SHARED = os.environ.get("HR_SHARED", os.path.join(REPO, "..", "shared"))
TOOL_TEMPLATE = os.path.join(SHARED, "hermes", "llama.cpp-templates",
                             "NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja")
CHATML_TEMPLATE = os.path.join(SHARED, "hermes", "Hermes-Function-Calling", "chat_templates", "chatml.j2")

JSON_PROMPT = ("You are a helpful assistant that answers in JSON. Here's the json schema "
               "you must adhere to:\n<schema>\n{schema}\n</schema>")


def make_env():
    # What transformers' _compile_jinja_template sets up.
    def raise_exception(msg):
        raise jinja2.exceptions.TemplateError(msg)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                          sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    return env


def load_templates(env):
    with open(TOOL_TEMPLATE, encoding="utf-8") as f:
        tool_src = f.read()
    # The plain-ChatML variant: the same template minus the tools system header
    # (everything from the header's first line up to the message loop).
    start = tool_src.index("{{- '<|im_start|>system\n' }}")
    end = tool_src.index("{%- for message in messages %}")
    plain_src = tool_src[:start] + tool_src[end:]
    with open(CHATML_TEMPLATE, encoding="utf-8") as f:
        chatml_src = f.read()
    return env.from_string(tool_src), env.from_string(plain_src), env.from_string(chatml_src)


def normalize_messages(msgs):
    out = []
    for m in msgs:
        m = dict(m)
        if m.get("role") == "developer":
            m["role"] = "system"
        c = m.get("content")
        if isinstance(c, list):
            m["content"] = "\n".join(p["text"] for p in c if p.get("type") == "text")
        elif c is None:
            m["content"] = ""
        if "tool_calls" in m and m["tool_calls"] is None:
            del m["tool_calls"]
        out.append(m)
    return out


def render_case(case, tool_t, plain_t):
    req = case["request"]
    msgs = normalize_messages(req["messages"])
    rf = req.get("response_format")
    if rf and rf.get("type") in ("json_object", "json_schema"):
        schema = {"type": "object"}
        if rf["type"] == "json_schema":
            schema = rf["json_schema"]["schema"]
        msgs.insert(0, {"role": "system", "content": JSON_PROMPT.format(schema=json.dumps(schema))})
    tools = req.get("tools") or []
    choice = req.get("tool_choice", "auto")
    gen = case.get("add_generation_prompt", True)
    kw = dict(messages=msgs, add_generation_prompt=gen, bos_token=case.get("bos_token", ""))
    if tools and choice != "none":
        text = tool_t.render(tools=tools, **kw)
        if gen and choice == "required":
            text += "<tool_call>\n"
        elif gen and isinstance(choice, dict):
            text += '<tool_call>\n{"name": "' + choice["function"]["name"] + '", "arguments": '
    else:
        text = plain_t.render(**kw)
    return text


def main():
    check = "--check" in sys.argv
    env = make_env()
    tool_t, plain_t, chatml_t = load_templates(env)
    with open(os.path.join(HERE, "cases.json"), encoding="utf-8") as f:
        cases = json.load(f)
    bad = 0
    for case in cases:
        text = render_case(case, tool_t, plain_t)
        req = case["request"]
        plain = (not req.get("tools") and "response_format" not in req and
                 all(m["role"] in ("system", "user", "assistant") and "tool_calls" not in m
                     and isinstance(m.get("content"), str) for m in req["messages"]))
        if plain:  # the derived template must agree with the official ChatML one
            ref = case.get("bos_token", "") + chatml_t.render(messages=req["messages"],
                                                              add_generation_prompt=case.get("add_generation_prompt", True))
            assert ref == text, "plain ChatML mismatch in case " + case["name"]
        path = os.path.join(HERE, case["name"] + ".txt")
        data = text.encode("utf-8")
        if check:
            with open(path, "rb") as f:
                if f.read() != data:
                    print("MISMATCH", case["name"])
                    bad += 1
        else:
            with open(path, "wb") as f:
                f.write(data)
    # Inputs the real template cannot render (documented deviations in hermes.h):
    for name, tools in [("type null", [{"type": "function", "function": {"name": "f", "description": "d",
                         "parameters": {"type": "object", "properties": {"x": {"type": ["string", "null"]}}}}}]),
                        ("no description", [{"type": "function", "function": {"name": "f",
                         "parameters": {"type": "object", "properties": {}}}}])]:
        try:
            tool_t.render(messages=[{"role": "user", "content": "hi"}], tools=tools, bos_token="",
                          add_generation_prompt=True)
            print("note: template now renders", name)
        except (RecursionError, jinja2.exceptions.UndefinedError, TypeError):
            pass
    print("%d cases %s" % (len(cases), "checked" if check else "written"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
