package cli

import (
	"fmt"
	"runtime"

	"github.com/gradcouple/gradcouple/coupling"
	"github.com/gradcouple/gradcouple/internal/buildinfo"
	"github.com/gradcouple/gradcouple/policy"
	ucli "github.com/urfave/cli/v2"
)

func newVersionCommand(env *Env) *ucli.Command {
	return &ucli.Command{
		Name:  "version",
		Usage: "print the version, the VCS revision and commit time of the build, and whether its tree was modified",
		Description: "The first line's version is what run.json and the gradcouple.version key of every parquet\n" +
			"output record: the module version or devel, then +REVISION (12 hex digits) and .dirty for a\n" +
			"modified tree unless the module version already names the commit. Build with\n" +
			"'go build -buildvcs=true' in a git checkout to stamp the revision. The last line names the\n" +
			"micro-kernels this machine runs: the Gram's (coupling) and the actor's matrix products (policy).",
		Action: func(c *ucli.Context) error {
			if err := argsN(c, 0, "no arguments"); err != nil {
				return err
			}
			if _, err := fmt.Fprint(env.Stdout, buildinfo.Read().Long()); err != nil {
				return err
			}
			_, err := fmt.Fprintf(env.Stdout, "kernels: gram %s, actor %s (%s/%s)\n", coupling.KernelName(), policy.KernelName(), runtime.GOOS, runtime.GOARCH)
			return err
		},
	}
}

// helpRequest asks Run to show the help of the command named by path.
type helpRequest struct{ path []string }

func (h *helpRequest) Error() string { return "help requested" }

func newHelpCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "help",
		Usage:     "show the help of gradcouple or of a command ('gradcouple help env sample' is 'gradcouple env sample --help')",
		ArgsUsage: "[COMMAND...]",
		Action: func(c *ucli.Context) error {
			if c.NArg() == 0 {
				return ucli.ShowAppHelp(c)
			}
			cmds, parent := c.App.VisibleCommands(), "gradcouple"
			for _, name := range c.Args().Slice() {
				cmd := findCommand(visible(cmds), name)
				if cmd == nil {
					return unknownCommand(visible(cmds), name, parent)
				}
				cmds, parent = cmd.Subcommands, parent+" "+cmd.Name
			}
			return &helpRequest{path: c.Args().Slice()}
		},
	}
}
