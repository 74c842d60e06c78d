package judge

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"strings"
	"text/template"
)

//go:embed prompts/default.txt
var defaultTemplate string

// DefaultTemplateName names the embedded default template in messages and
// metadata.
const DefaultTemplateName = "default"

// Template is a judging prompt: a text/template over Fields. Its SHA-256 (of
// the template text) is recorded with every label it produced.
type Template struct {
	name string
	text string
	sha  string
	t    *template.Template
}

// DefaultTemplate returns the embedded default template (prompts/default.txt).
func DefaultTemplate() *Template {
	t, err := ParseTemplate(DefaultTemplateName, defaultTemplate)
	if err != nil {
		panic("judge: the embedded default template does not parse: " + err.Error())
	}
	return t
}

// ParseTemplate parses a template text named name (a file name, for
// errors). The template must render without error for both a structured
// and a raw prompt, and must use the action ({{.Action}}).
func ParseTemplate(name, text string) (*Template, error) {
	t, err := template.New(name).Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("judge template %s: %w", name, err)
	}
	if !strings.Contains(text, ".Action") {
		return nil, fmt.Errorf("judge template %s: does not use {{.Action}}: the judge would not see the action", name)
	}
	sum := sha256.Sum256([]byte(text))
	tp := &Template{name: name, text: text, sha: hex.EncodeToString(sum[:]), t: t}
	for _, f := range []Fields{{Structured: true, Task: "t", Observation: "o", Admissible: "a", Action: "x"}, {Prompt: "p", Action: "x"}} {
		if _, err := tp.Render(f); err != nil {
			return nil, err
		}
	}
	return tp, nil
}

// Name is the template's name (its file, or "default").
func (t *Template) Name() string { return t.name }

// SHA256 is the hex SHA-256 of the template text.
func (t *Template) SHA256() string { return t.sha }

// Render fills the template with f.
func (t *Template) Render(f Fields) (string, error) {
	var b bytes.Buffer
	if err := t.t.Execute(&b, f); err != nil {
		return "", fmt.Errorf("judge template %s: %w", t.name, err)
	}
	return b.String(), nil
}

// Fields are what a template can show the judge.
type Fields struct {
	// Structured is true when the prompt had the bundled environments'
	// layout and Task, History, Observation and Admissible were taken from it.
	Structured  bool
	Task        string
	History     string // "" at the first step or without history
	Observation string
	Admissible  string // comma separated, as in the prompt
	// Prompt is the whole prompt the agent saw (always set).
	Prompt string
	// Action is the action to judge.
	Action string
}

// FieldsOf extracts the fields of a prompt in env.Prompt's layout
// ("Your task is to: ...", "Your last N observations and actions: ...",
// "... your observation is: ...", "Your admissible actions are: [...].").
// Prompt-correction lines ("Warning: ...") are not shown to the judge. A
// prompt without the task, observation and admissible-action lines
// (another trainer's prompt) gives Structured false: the template then
// shows the prompt as given.
func FieldsOf(prompt, action string) Fields {
	f := Fields{Prompt: prompt, Action: action}
	var task, obs, adm bool
	for _, line := range strings.Split(prompt, "\n") {
		switch {
		case strings.Contains(line, "Your task is to: "):
			f.Task = strings.TrimSpace(line[strings.Index(line, "Your task is to: ")+len("Your task is to: "):])
			task = true
		case strings.HasPrefix(line, "Your last ") && strings.Contains(line, " observations and actions:"):
			f.History = strings.TrimSpace(line[strings.Index(line, ":")+1:])
		case strings.HasPrefix(line, "Your observation is: "):
			f.Observation = strings.TrimSpace(strings.TrimPrefix(line, "Your observation is: "))
			obs = true
		case strings.HasPrefix(line, "Now at step ") && strings.Contains(line, ", your observation is: "):
			f.Observation = strings.TrimSpace(line[strings.Index(line, ", your observation is: ")+len(", your observation is: "):])
			obs = true
		case strings.HasPrefix(line, "Your admissible actions are: [") && strings.HasSuffix(line, "]."):
			f.Admissible = strings.TrimSuffix(strings.TrimPrefix(line, "Your admissible actions are: ["), "].")
			adm = true
		}
	}
	if task && obs && adm {
		f.Structured = true
	} else {
		f.Task, f.History, f.Observation, f.Admissible = "", "", "", ""
	}
	return f
}
