package cli

import (
	"fmt"
	"io"
	"runtime"
	"strings"

	"github.com/gradcouple/gradcouple/internal/buildinfo"
	"github.com/gradcouple/gradcouple/internal/cpuinfo"
	"github.com/gradcouple/gradcouple/internal/kernel"
	ucli "github.com/urfave/cli/v2"
)

func newVersionCommand(env *Env) *ucli.Command {
	return &ucli.Command{
		Name:  "version",
		Usage: "print the version, the VCS revision and commit time of the build, and whether its tree was modified",
		Description: "The first line's version is what run.json and the gradcouple.version key of every parquet\n" +
			"output record: the module version or devel, then +REVISION (12 hex digits) and .dirty for a\n" +
			"modified tree unless the module version already names the commit. Build with\n" +
			"'go build -buildvcs=true' in a git checkout to stamp the revision. The last lines name the\n" +
			"micro-kernels in use, the Gram's (coupling) and the actor's matrix products (policy), the\n" +
			"CPU model and the features the kernels use that it has. GRADCOUPLE_KERNEL=avx512|avx2|neon|go forces\n" +
			"a kernel set the machine can run.",
		Action: func(c *ucli.Context) error {
			if err := argsN(c, 0, "no arguments"); err != nil {
				return err
			}
			if _, err := fmt.Fprint(env.Stdout, buildinfo.Read().Long()); err != nil {
				return err
			}
			return printKernels(env)
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

// printKernels writes the kernel lines of version: the kernel set in use
// with the Gram's and the actor's tiles, why GRADCOUPLE_KERNEL was not
// followed when it was not, the CPU model and the features the kernels use.
func printKernels(env *Env) error {
	id := kernel.Selected()
	var b strings.Builder
	fmt.Fprintf(&b, "kernels: gram %s, actor %s (%s/%s)\n", id.F32Name(), id.F64Name(), runtime.GOOS, runtime.GOARCH)
	if n := kernel.Note(); n != "" {
		fmt.Fprintf(&b, "kernel note: %s\n", n)
	}
	f := kernel.Features()
	if len(f) == 0 {
		f = []string{"none used"}
	}
	fmt.Fprintf(&b, "cpu: %s (features used: %s)\n", cpuinfo.Model(), strings.Join(f, " "))
	_, err := io.WriteString(env.Stdout, b.String())
	return err
}
