package chat

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/ardanlabs/jinja"
)

// Message is one chat message in the OpenAI / transformers form. Fields left
// empty are absent from the template's view of the message (a template's
// "'tool_calls' in message" is false without tool calls), except Content,
// which is always a string.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
	// ReasoningContent is the thinking of an assistant turn (Qwen3's
	// reasoning_content); nil means absent.
	ReasoningContent *string    `json:"reasoning_content,omitempty"`
	ToolCalls        []ToolCall `json:"tool_calls,omitempty"`
	// Name and ToolCallID of a tool message, where templates use them.
	Name       string `json:"name,omitempty"`
	ToolCallID string `json:"tool_call_id,omitempty"`
}

// ToolCall is one call in an assistant message.
type ToolCall struct {
	ID       string       `json:"id,omitempty"`
	Type     string       `json:"type,omitempty"`
	Function ToolFunction `json:"function"`
}

// ToolFunction names the function called and its arguments: a JSON object
// (templates print it with tojson) or a JSON string holding the arguments
// as text (Qwen prints such a string as is).
type ToolFunction struct {
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments"`
}

// Options are the variables of one rendering besides the messages. The
// zero value renders without tools, without a generation prompt, with the
// real clock.
type Options struct {
	// AddGenerationPrompt ends the text with the header of an assistant turn.
	AddGenerationPrompt bool
	// Tools is a JSON array of tool schemas (as for transformers'
	// apply_chat_template(tools=...)); nil means none (the template sees
	// tools = none).
	Tools json.RawMessage
	// Vars are further template variables, e.g. enable_thinking (Qwen3),
	// date_string, builtin_tools, tools_in_user_message (Llama-3.1). They
	// are converted through JSON, so map keys are sorted and a float64
	// with an integral value becomes an integer (pass a json.RawMessage
	// such as 2.0 to keep a float).
	Vars map[string]any
	// Now is the clock of strftime_now; nil means time.Now.
	Now func() time.Time
}

// Specials are the special-token strings tokenizer_config.json gives the
// template (bos_token, eos_token, unk_token, pad_token); empty means absent.
type Specials struct {
	BOS, EOS, UNK, PAD string
}

// Template is a compiled chat template. It is safe for concurrent use.
type Template struct {
	Source   string // the template text
	Origin   string // where it was read: "chat_template.jinja", "tokenizer_config.json", or "" for Parse
	Specials Specials
	tmpl     *jinja.Template
}

// Parse compiles a chat template.
func Parse(source string, sp Specials) (*Template, error) {
	tmpl, err := jinja.Compile(renameToJSON(source))
	if err != nil {
		return nil, fmt.Errorf("compiling the template: %v: %w", err, ErrMalformed)
	}
	return &Template{Source: source, Specials: sp, tmpl: tmpl}, nil
}

// config is the part of tokenizer_config.json a chat template uses.
type config struct {
	ChatTemplate json.RawMessage `json:"chat_template"`
	BOS          json.RawMessage `json:"bos_token"`
	EOS          json.RawMessage `json:"eos_token"`
	UNK          json.RawMessage `json:"unk_token"`
	PAD          json.RawMessage `json:"pad_token"`
}

// tokenString reads a special token written as a string, as null, or as an
// AddedToken object {"content": ...} (older tokenizer_config.json files).
func tokenString(raw json.RawMessage, field string) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var obj struct {
		Content *string `json:"content"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil || obj.Content == nil {
		return "", fmt.Errorf("tokenizer_config.json: %s: neither a string nor {\"content\": ...}: %w", field, ErrMalformed)
	}
	return *obj.Content, nil
}

// maxFile bounds the size of tokenizer_config.json and chat_template.jinja.
const maxFile = 16 << 20

func readLimited(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Size() > maxFile {
		return nil, fmt.Errorf("%s: larger than %d bytes: %w", path, maxFile, ErrMalformed)
	}
	return os.ReadFile(path)
}

// Load reads the chat template of a Hugging Face model directory as
// transformers does: chat_template.jinja if it exists, else
// tokenizer_config.json's chat_template, a string or a list of
// {"name", "template"} from which "default" is taken. The special tokens
// come from tokenizer_config.json when it exists.
func Load(dir string) (*Template, error) {
	var cfg config
	cfgPath := filepath.Join(dir, "tokenizer_config.json")
	data, err := readLimited(cfgPath)
	switch {
	case err == nil:
		if err := json.Unmarshal(data, &cfg); err != nil {
			return nil, fmt.Errorf("%s: %v: %w", cfgPath, err, ErrMalformed)
		}
	case errors.Is(err, fs.ErrNotExist):
	default:
		return nil, err
	}
	var sp Specials
	for _, f := range []struct {
		raw   json.RawMessage
		name  string
		value *string
	}{{cfg.BOS, "bos_token", &sp.BOS}, {cfg.EOS, "eos_token", &sp.EOS}, {cfg.UNK, "unk_token", &sp.UNK}, {cfg.PAD, "pad_token", &sp.PAD}} {
		if *f.value, err = tokenString(f.raw, f.name); err != nil {
			return nil, fmt.Errorf("%s: %w", cfgPath, err)
		}
	}
	jinjaPath := filepath.Join(dir, "chat_template.jinja")
	src, err := readLimited(jinjaPath)
	if err == nil {
		t, err := Parse(string(src), sp)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", jinjaPath, err)
		}
		t.Origin = "chat_template.jinja"
		return t, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	source, err := configTemplate(cfg.ChatTemplate)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cfgPath, err)
	}
	t, err := Parse(source, sp)
	if err != nil {
		return nil, fmt.Errorf("%s: chat_template: %w", cfgPath, err)
	}
	t.Origin = "tokenizer_config.json"
	return t, nil
}

func configTemplate(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", fmt.Errorf("no chat_template.jinja and no chat_template: %w", ErrNoTemplate)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var list []struct {
		Name     string `json:"name"`
		Template string `json:"template"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		return "", fmt.Errorf("chat_template: neither a string nor a list of {name, template}: %w", ErrMalformed)
	}
	for _, t := range list {
		if t.Name == "default" {
			return t.Template, nil
		}
	}
	return "", fmt.Errorf("chat_template: a list without a \"default\" template: %w", ErrNoTemplate)
}

// Render renders messages with the template, with the variables
// transformers' apply_chat_template passes: messages, tools (none when
// absent), add_generation_prompt, the special tokens, then opts.Vars
// (which may override any of them). raise_exception(msg) in the template
// returns an error wrapping ErrRender with msg; strftime_now(fmt) formats
// opts.Now() (UTC is not forced: pass a clock in the zone you want).
func (t *Template) Render(messages []Message, opts Options) (string, error) {
	msgs, err := goValue(messages)
	if err != nil {
		return "", fmt.Errorf("messages: %v: %w", err, ErrRender)
	}
	if messages == nil {
		msgs = jinja.NewList(nil)
	}
	return t.render(msgs, opts)
}

// RenderJSON is Render with the messages given as a JSON array (the
// OpenAI chat format), keeping every field and its order.
func (t *Template) RenderJSON(messages []byte, opts Options) (string, error) {
	msgs, err := jsonValue(messages)
	if err != nil {
		return "", fmt.Errorf("messages: %v: %w", err, ErrRender)
	}
	if !msgs.IsList() {
		return "", fmt.Errorf("messages: not a JSON array: %w", ErrRender)
	}
	return t.render(msgs, opts)
}

func (t *Template) render(msgs jinja.Value, opts Options) (string, error) {
	vars := map[string]jinja.Value{
		"messages":              msgs,
		"tools":                 jinja.None(),
		"add_generation_prompt": jinja.NewBool(opts.AddGenerationPrompt),
	}
	if opts.Tools != nil {
		tools, err := jsonValue(opts.Tools)
		if err != nil {
			return "", fmt.Errorf("tools: %v: %w", err, ErrRender)
		}
		vars["tools"] = tools
	}
	for name, s := range map[string]string{"bos_token": t.Specials.BOS, "eos_token": t.Specials.EOS, "unk_token": t.Specials.UNK, "pad_token": t.Specials.PAD} {
		if s != "" {
			vars[name] = jinja.NewString(s)
		}
	}
	vars[tojsonName] = jinja.NewCallable("tojson", pyJSON)
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	vars["strftime_now"] = jinja.NewCallable("strftime_now", func(args []jinja.Value, _ map[string]jinja.Value) (jinja.Value, error) {
		if len(args) != 1 || !args[0].IsString() {
			return jinja.Value{}, fmt.Errorf("strftime_now: want one format string")
		}
		s, err := strftime(now(), args[0].AsString())
		if err != nil {
			return jinja.Value{}, err
		}
		return jinja.NewString(s), nil
	})
	for name, v := range opts.Vars {
		jv, err := goValue(v)
		if err != nil {
			return "", fmt.Errorf("Vars[%q]: %v: %w", name, err, ErrRender)
		}
		vars[name] = jv
	}
	out, err := t.tmpl.RenderValues(vars)
	if err != nil {
		return "", fmt.Errorf("%v: %w", err, ErrRender)
	}
	return out, nil
}
