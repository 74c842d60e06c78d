// Package judge labels step records with an LLM judge served through an
// OpenAI-compatible chat-completions endpoint (vLLM, SGLang, llama.cpp
// server, hosted APIs), as the GCD paper labelled actions: J independent
// judgments per (state, action) pair and their majority.
//
// The pieces:
//   - Template: the judging prompt, a text/template file (the default is
//     prompts/default.txt, embedded) with the fields of Fields: task, history
//     window, observation, admissible actions and the action. FieldsOf
//     extracts them from the prompts of the bundled environments
//     (env.Prompt's layout); any other prompt is passed whole (Fields.Prompt).
//   - ParseVerdict: the strict answer format (first line good or bad, second
//     line a one-line reason, nothing else); anything else is unknown, never
//     guessed.
//   - Client: one chat-completions request with retries (exponential backoff
//     on 429, 5xx and timeouts, Retry-After honoured), a rate limit, and an
//     on-disk Cache keyed by the SHA-256 of the request (model, messages,
//     temperature, seed = vote index, template hash; never the API key), so
//     an interrupted run resumes without repeating a request.
//   - Judge: every vote of every pair, concurrently, and the majority.
//   - Oracle and Agree: the exact truth of the bundled environments by
//     replaying a trajectory from its task ID, and the agreement of labels
//     with it (accuracy, Cohen's kappa).
//
// The package does no printing and reads no environment variables: the API
// key is given by the caller (internal/cli reads GRADCOUPLE_JUDGE_API_KEY).
package judge
