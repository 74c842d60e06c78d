// Command gradcouple is the gradcouple toolkit's command line; see README.md.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/gradcouple/gradcouple/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := cli.Run(ctx, os.Args, cli.SystemEnv())
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "gradcouple: %v\n", err)
	}
	os.Exit(cli.ExitCode(err))
}
