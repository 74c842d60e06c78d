package chat

import "errors"

// Sentinel errors, matched with errors.Is.
var (
	// ErrNoTemplate: the model directory has neither chat_template.jinja nor
	// a chat_template in tokenizer_config.json (or no "default" in a list).
	ErrNoTemplate = errors.New("no chat template")
	// ErrMalformed: tokenizer_config.json or the template cannot be parsed.
	ErrMalformed = errors.New("malformed chat template")
	// ErrRender: rendering failed; raise_exception in the template (its
	// message is kept) or an operation the template engine refuses.
	ErrRender = errors.New("rendering the chat template")
)
