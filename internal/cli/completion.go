package cli

import (
	"fmt"
	"io"
	"sort"
	"strings"

	ucli "github.com/urfave/cli/v2"
)

func newCompletionCommand(env *Env) *ucli.Command {
	return &ucli.Command{
		Name:      "completion",
		Usage:     "print a shell completion script for bash, zsh or fish",
		ArgsUsage: "bash|zsh|fish",
		Description: "The script completes command names and flags from gradcouple's command tree, and file\n" +
			"names for arguments. Install it with, for example:\n" +
			"  bash: gradcouple completion bash > ~/.local/share/bash-completion/completions/gradcouple\n" +
			"  zsh:  gradcouple completion zsh > \"${fpath[1]}/_gradcouple\"\n" +
			"  fish: gradcouple completion fish > ~/.config/fish/completions/gradcouple.fish",
		Action: func(c *ucli.Context) error {
			if err := argsN(c, 1, "a shell: bash, zsh or fish"); err != nil {
				return err
			}
			return writeCompletion(env.Stdout, c.App, c.Args().First())
		},
	}
}

// writeCompletion writes the completion script for shell, generated from
// app's visible commands and flags.
func writeCompletion(w io.Writer, app *ucli.App, shell string) error {
	var err error
	switch shell {
	case "bash":
		_, err = io.WriteString(w, bashCompletion(app))
	case "zsh":
		// zsh runs the bash function through bashcompinit.
		_, err = io.WriteString(w, "#compdef gradcouple\nautoload -U +X bashcompinit && bashcompinit\n"+bashCompletion(app))
	case "fish":
		_, err = io.WriteString(w, fishCompletion(app))
	default:
		return &UsageError{Msg: fmt.Sprintf("completion: unknown shell %q; want bash, zsh or fish", shell)}
	}
	return err
}

// completionNode is a command of the tree: its path ("" for gradcouple
// itself, "env sample"), subcommand names and flag names.
type completionNode struct {
	path  string
	subs  []string
	flags []string
	usage string
}

func completionTree(app *ucli.App) []completionNode {
	root := completionNode{flags: flagTokens(app.VisibleFlags(), app.Flags)}
	var nodes []completionNode
	var walk func(prefix string, cmds []*ucli.Command) []string
	walk = func(prefix string, cmds []*ucli.Command) []string {
		var names []string
		for _, c := range visible(cmds) {
			path := strings.TrimSpace(prefix + " " + c.Name)
			n := completionNode{path: path, flags: flagTokens(c.VisibleFlags(), c.Flags), usage: c.Usage}
			n.subs = walk(path, c.Subcommands)
			nodes = append(nodes, n)
			names = append(names, c.Name)
		}
		return names
	}
	root.subs = walk("", app.Commands)
	return append([]completionNode{root}, nodes...)
}

func flagTokens(visibleFlags, all []ucli.Flag) []string {
	if len(visibleFlags) == 0 {
		visibleFlags = all
	}
	var out []string
	for _, f := range visibleFlags {
		if v, ok := f.(ucli.VisibleFlag); ok && !v.IsVisible() {
			continue
		}
		for _, n := range f.Names() {
			out = append(out, dashed(n))
		}
	}
	sort.Strings(out)
	return out
}

// bashCompletion: the words before the cursor that name commands select a
// node of the tree; a word starting with - completes its flags, any other
// word its subcommands, or file names when it has none.
func bashCompletion(app *ucli.App) string {
	var b strings.Builder
	b.WriteString(`# bash completion for gradcouple (gradcouple completion bash)
_gradcouple() {
  local cur="${COMP_WORDS[COMP_CWORD]}" path="" w i words
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="${COMP_WORDS[i]}"
    case "$path/$w" in
`)
	nodes := completionTree(app)
	var paths []string
	for _, n := range nodes[1:] {
		paths = append(paths, "/"+strings.ReplaceAll(n.path, " ", "/"))
	}
	fmt.Fprintf(&b, "      %s) path=\"$path/$w\" ;;\n", strings.Join(paths, "|"))
	b.WriteString(`    esac
  done
  case "$path" in
`)
	for _, n := range nodes {
		p := "/" + strings.ReplaceAll(n.path, " ", "/")
		if n.path == "" {
			p = ""
		}
		fmt.Fprintf(&b, "    %q) subs=%q; flags=%q ;;\n", p, strings.Join(n.subs, " "), strings.Join(n.flags, " "))
	}
	b.WriteString(`  esac
  if [[ "$cur" == -* ]]; then
    words="$flags"
  else
    words="$subs"
  fi
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -o default -F _gradcouple gradcouple
`)
	return b.String()
}

// fishCompletion: a command's subcommands complete after it (and no deeper
// command), its flags after it.
func fishCompletion(app *ucli.App) string {
	var b strings.Builder
	b.WriteString("# fish completion for gradcouple (gradcouple completion fish)\n")
	nodes := completionTree(app)
	subsOf := map[string][]string{}
	for _, n := range nodes {
		subsOf[n.path] = n.subs
	}
	for _, n := range nodes {
		cond := "__fish_use_subcommand"
		if n.path != "" {
			words := strings.Fields(n.path)
			cond = "__fish_seen_subcommand_from " + words[len(words)-1]
			if subs := subsOf[n.path]; len(subs) > 0 {
				cond += "; and not __fish_seen_subcommand_from " + strings.Join(subs, " ")
			}
		}
		for _, s := range n.subs {
			usage := ""
			for _, m := range nodes {
				if m.path == strings.TrimSpace(n.path+" "+s) {
					usage = m.usage
				}
			}
			fmt.Fprintf(&b, "complete -c gradcouple -n '%s' -a %s -d %s\n", cond, s, fishQuote(usage))
		}
		for _, f := range n.flags {
			if strings.HasPrefix(f, "--") {
				fmt.Fprintf(&b, "complete -c gradcouple -n '%s' -l %s\n", cond, f[2:])
			} else {
				fmt.Fprintf(&b, "complete -c gradcouple -n '%s' -s %s\n", cond, f[1:])
			}
		}
	}
	return b.String()
}

func fishQuote(s string) string {
	if len(s) > 80 {
		s = s[:77] + "..."
	}
	return "'" + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), "'", `\'`) + "'"
}
