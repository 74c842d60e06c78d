package cli

import (
	"fmt"

	"github.com/gradcouple/gradcouple/env"
	ucli "github.com/urfave/cli/v2"
)

func newEnvCommand(e *Env) *ucli.Command {
	return &ucli.Command{
		Name:  "env",
		Usage: "the bundled text environments (household, lab): play a task, sample step records, task statistics",
		Description: "household is ALFWorld-like (receptacles, objects, the six ALFWorld task families); lab is\n" +
			"ScienceWorld-like (rooms, devices, wait, focus on; five multi-stage families). Each has the\n" +
			"splits train, eval-in (unseen instances) and eval-out (held-out layouts and types), an exact\n" +
			"oracle planner and a judge. A task is named ENV/SPLIT/SEED and regenerated from that name.",
		Subcommands: []*ucli.Command{newEnvPlayCommand(e), newEnvSampleCommand(e), newEnvStatsCommand(e)},
	}
}

// Flags shared by the env subcommands.
var (
	envNameFlag = &ucli.StringFlag{Name: "env", Value: env.Household, Usage: "environment `NAME`: household or lab (or household-twin, lab-twin, bandit; see env/README.md)"}
	envSplitArg = &ucli.StringFlag{Name: "split", Value: env.SplitTrain, Usage: "task split `SPLIT`: train, eval-in or eval-out"}
	envHistory  = &ucli.IntFlag{Name: "history", Value: env.DefaultHistory, Usage: "past (observation, action) pairs `H` in the actor prompt; 0 for none"}
)

func checkEnvName(name string) error {
	if _, err := env.New(name); err != nil {
		return &UsageError{Msg: fmt.Sprintf("--env %q: want household or lab, their twin variants (household-twin, lab-twin, -twin-alias) or bandit[-kK][-fL][-dD][-alias]", name)}
	}
	return nil
}

func checkEnvSplit(split string) error {
	switch split {
	case env.SplitTrain, env.SplitEvalIn, env.SplitEvalOut:
		return nil
	}
	return &UsageError{Msg: fmt.Sprintf("--split %q: want train, eval-in or eval-out", split)}
}

// promptConfig turns --history into a PromptConfig (0 means no history).
func promptConfig(history int) (env.PromptConfig, error) {
	switch {
	case history < 0:
		return env.PromptConfig{}, &UsageError{Msg: fmt.Sprintf("--history %d: want 0 or more", history)}
	case history == 0:
		return env.PromptConfig{History: -1}, nil
	}
	return env.PromptConfig{History: history}, nil
}
