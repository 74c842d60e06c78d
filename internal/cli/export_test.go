package cli

import ucli "github.com/urfave/cli/v2"

type ucliCommand = ucli.Command
