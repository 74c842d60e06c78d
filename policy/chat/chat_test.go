package chat

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLoadLookup(t *testing.T) {
	cfg := `{"bos_token": {"content": "<s>", "lstrip": false}, "eos_token": "</s>", "pad_token": null, "chat_template": "cfg {{ bos_token }}"}`
	cases := []struct {
		name   string
		files  map[string]string
		want   string
		origin string
		err    error
	}{
		{"jinja file first", map[string]string{"tokenizer_config.json": cfg, "chat_template.jinja": "file {{ eos_token }}"}, "file </s>", "chat_template.jinja", nil},
		{"config string", map[string]string{"tokenizer_config.json": cfg}, "cfg <s>", "tokenizer_config.json", nil},
		{"named list", map[string]string{"tokenizer_config.json": `{"chat_template": [{"name": "tool_use", "template": "tools"}, {"name": "default", "template": "default"}]}`}, "default", "tokenizer_config.json", nil},
		{"list without default", map[string]string{"tokenizer_config.json": `{"chat_template": [{"name": "tool_use", "template": "tools"}]}`}, "", "", ErrNoTemplate},
		{"no template", map[string]string{"tokenizer_config.json": `{"eos_token": "x"}`}, "", "", ErrNoTemplate},
		{"empty dir", map[string]string{}, "", "", ErrNoTemplate},
		{"bad config", map[string]string{"tokenizer_config.json": `{`}, "", "", ErrMalformed},
		{"bad token", map[string]string{"tokenizer_config.json": `{"bos_token": 3, "chat_template": "x"}`}, "", "", ErrMalformed},
		{"bad template", map[string]string{"chat_template.jinja": "{% for %}"}, "", "", ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tmpl, err := Load(writeDir(t, c.files))
			if c.err != nil {
				if !errors.Is(err, c.err) {
					t.Fatalf("err = %v, want %v", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := tmpl.Render(nil, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want || tmpl.Origin != c.origin {
				t.Errorf("rendered %q from %s, want %q from %s", got, tmpl.Origin, c.want, c.origin)
			}
		})
	}
}

func TestRaiseException(t *testing.T) {
	tmpl, err := Parse(`{% if messages[0].role != 'user' %}{{ raise_exception('first must be user') }}{% endif %}ok`, Specials{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = tmpl.Render([]Message{{Role: "assistant", Content: "x"}}, Options{})
	if !errors.Is(err, ErrRender) || !strings.Contains(err.Error(), "first must be user") {
		t.Errorf("err = %v", err)
	}
	if s, err := tmpl.Render([]Message{{Role: "user"}}, Options{}); err != nil || s != "ok" {
		t.Errorf("Render = %q, %v", s, err)
	}
}

// TestRenderStruct: the Message struct gives the template the same view as
// the JSON form (tool calls with object arguments, reasoning_content), on
// the real Qwen3 template.
func TestRenderStruct(t *testing.T) {
	tmpl, err := Load(filepath.Join(fixtures, "qwen3"))
	if err != nil {
		t.Fatal(err)
	}
	thinking := "\nchecking\n"
	msgs := []Message{
		{Role: "user", Content: "weather?"},
		{Role: "assistant", Content: "", ReasoningContent: &thinking, ToolCalls: []ToolCall{{Type: "function", Function: ToolFunction{Name: "get", Arguments: json.RawMessage(`{"z": 1, "a": [1.5, "<&>"]}`)}}}},
		{Role: "tool", Content: "sunny"},
	}
	got, err := tmpl.Render(msgs, Options{AddGenerationPrompt: true, Vars: map[string]any{"enable_thinking": false}})
	if err != nil {
		t.Fatal(err)
	}
	// Derived by hand from the Qwen3 template: the assistant turn comes after
	// the last user query, so its reasoning is shown; arguments keep their
	// key order and are not HTML-escaped.
	want := "<|im_start|>user\nweather?<|im_end|>\n" +
		"<|im_start|>assistant\n<think>\nchecking\n</think>\n\n<tool_call>\n{\"name\": \"get\", \"arguments\": {\"z\": 1, \"a\": [1.5, \"<&>\"]}}\n</tool_call><|im_end|>\n" +
		"<|im_start|>user\n<tool_response>\nsunny\n</tool_response><|im_end|>\n" +
		"<|im_start|>assistant\n<think>\n\n</think>\n\n"
	if got != want {
		t.Errorf("Render =\n%q\nwant\n%q", got, want)
	}
}

func TestStrftime(t *testing.T) {
	now := time.Date(2025, 3, 9, 15, 4, 5, 0, time.UTC)
	cases := map[string]string{
		"%d %b %Y":          "09 Mar 2025",
		"%A %B %j %y":       "Sunday March 068 25",
		"%H:%M:%S %I %p %%": "15:04:05 03 PM %",
		"plain 2006 Jan":    "plain 2006 Jan",
	}
	for f, want := range cases {
		if got, err := strftime(now, f); err != nil || got != want {
			t.Errorf("strftime(%q) = %q, %v, want %q", f, got, err, want)
		}
	}
	if _, err := strftime(now, "%Q"); err == nil {
		t.Error("unknown directive accepted")
	}
	tmpl, err := Parse(`{{ strftime_now("%d %b %Y") }}`, Specials{})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := tmpl.Render(nil, Options{Now: func() time.Time { return now }}); got != "09 Mar 2025" {
		t.Errorf("strftime_now = %q", got)
	}
}

func TestToJSON(t *testing.T) {
	cases := []struct{ tmpl, want string }{
		{`{{ x | tojson }}`, `{"b": [1, 2.5, null, true], "a": "é\n\"<&>"}`},
		{`{{ x | tojson(indent=2) }}`, "{\n  \"b\": [\n    1,\n    2.5,\n    null,\n    true\n  ],\n  \"a\": \"é\\n\\\"<&>\"\n}"},
		{`{{ x | tojson(sort_keys=true, separators=[',', ':']) }}`, `{"a":"é\n\"<&>","b":[1,2.5,null,true]}`},
		{`{{ x | tojson(ensure_ascii=true) }}`, `{"b": [1, 2.5, null, true], "a": "\u00e9\n\"<&>"}`},
		{`{{ e | tojson(indent=4) }}{{ l | tojson(indent=4) }}`, `{}[]`},
		{`{{ "a | tojson" }}|tojson`, `a | tojson|tojson`},
		{`{# x | tojson(indent=1) #}{{ f | tojson }}`, `[100000000.0, 1e+16, 1e-05, 0.0001, -0.0]`},
	}
	vars := map[string]any{"x": json.RawMessage(`{"b": [1, 2.5, null, true], "a": "é\n\"<&>"}`), "e": map[string]any{}, "l": []any{},
		// Numbers written with a point or an exponent stay floats (a Go
		// float64 with an integral value would come through JSON as an int).
		"f": json.RawMessage(`[1e8, 1e16, 1e-5, 1.0e-4, -0.0]`)}
	for _, c := range cases {
		tmpl, err := Parse(c.tmpl, Specials{})
		if err != nil {
			t.Fatal(err)
		}
		v := map[string]any{}
		for k, x := range vars {
			v[k] = x
		}
		got, err := tmpl.Render(nil, Options{Vars: v})
		if err != nil {
			t.Fatalf("%s: %v", c.tmpl, err)
		}
		if got != c.want {
			t.Errorf("%s = %q, want %q", c.tmpl, got, c.want)
		}
	}
}

func TestRenderJSONErrors(t *testing.T) {
	tmpl, err := Parse(`{{ messages | length }}`, Specials{})
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{`{`, `{"role": "user"}`, `[1] x`, strings.Repeat("[", 100) + strings.Repeat("]", 100)} {
		if _, err := tmpl.RenderJSON([]byte(bad), Options{}); !errors.Is(err, ErrRender) {
			t.Errorf("RenderJSON(%.20q): err = %v", bad, err)
		}
	}
	if _, err := tmpl.Render(nil, Options{Tools: json.RawMessage(`[`)}); !errors.Is(err, ErrRender) {
		t.Errorf("bad tools: err = %v", err)
	}
}

// FuzzRenderJSON: any messages JSON renders or fails with an error, never
// a panic, on the real templates.
func FuzzRenderJSON(f *testing.F) {
	f.Add([]byte(`[{"role": "user", "content": "hi"}]`), true)
	f.Add([]byte(`[{"role": "assistant", "content": null, "tool_calls": [{"function": {"name": "f", "arguments": {"a": 1}}}]}]`), false)
	f.Add([]byte(`[]`), true)
	var tmpls []*Template
	for _, name := range []string{"qwen2_5", "qwen3", "llama3", "llama3_1", "llama3_2"} {
		tmpl, err := Load(filepath.Join(fixtures, name))
		if err != nil {
			f.Fatal(err)
		}
		tmpls = append(tmpls, tmpl)
	}
	now := func() time.Time { return time.Date(2024, 7, 26, 0, 0, 0, 0, time.UTC) }
	f.Fuzz(func(t *testing.T, msgs []byte, gen bool) {
		for _, tmpl := range tmpls {
			_, _ = tmpl.RenderJSON(msgs, Options{AddGenerationPrompt: gen, Now: now})
		}
	})
}
