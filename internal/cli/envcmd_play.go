package cli

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"

	"github.com/gradcouple/gradcouple/env"
	ucli "github.com/urfave/cli/v2"
)

// EnvPlayOptions are the inputs of `gradcouple env play`.
type EnvPlayOptions struct {
	Env     string
	Split   string
	Seed    uint64
	History int
	Prompt  bool // show the actor prompt every turn
	Oracle  bool // show the optimal actions every turn
}

func newEnvPlayCommand(e *Env) *ucli.Command {
	return &ucli.Command{
		Name:  "play",
		Usage: "play a task interactively: read the observation and admissible actions, type an action",
		Description: "Type an action (any text: what is not admissible gets \"Nothing happens.\" and costs a step),\n" +
			"or the number of an admissible action; 'quit' or end of input stops. --oracle shows the\n" +
			"optimal actions, --prompt the exact prompt the actor would see.",
		Flags: []ucli.Flag{
			envNameFlag, envSplitArg,
			&ucli.Uint64Flag{Name: "seed", Value: 0, Usage: "task seed `N` (the task is ENV/SPLIT/N)"},
			envHistory,
			&ucli.BoolFlag{Name: "prompt", Usage: "show the actor prompt every turn"},
			&ucli.BoolFlag{Name: "oracle", Usage: "show the optimal actions every turn"},
		},
		Action: func(c *ucli.Context) error {
			if err := argsN(c, 0, "no arguments"); err != nil {
				return err
			}
			return runEnvPlay(EnvPlayOptions{Env: c.String("env"), Split: c.String("split"), Seed: c.Uint64("seed"),
				History: c.Int("history"), Prompt: c.Bool("prompt"), Oracle: c.Bool("oracle")}, e)
		},
	}
}

func runEnvPlay(opts EnvPlayOptions, e *Env) error {
	if err := firstErr(checkEnvName(opts.Env), checkEnvSplit(opts.Split)); err != nil {
		return err
	}
	pcfg, err := promptConfig(opts.History)
	if err != nil {
		return err
	}
	task, err := env.NewTask(opts.Env, opts.Split, opts.Seed)
	if err != nil {
		return err
	}
	g, _, err := env.Start(task)
	if err != nil {
		return err
	}
	w := e.Stdout
	fmt.Fprintf(w, "Task %s (%s, layout %s)\nGoal: %s\n", task.ID, task.Type, task.Layout, task.Goal)
	in := bufio.NewScanner(e.Stdin)
	in.Buffer(make([]byte, 0, 4096), 1<<20)
	var past []env.Turn
	for !g.Done() {
		adm := g.Admissible()
		fmt.Fprintf(w, "\nStep %d of %d. %s\n", g.Steps()+1, g.StepLimit(), g.Observation())
		if opts.Prompt {
			fmt.Fprintf(w, "--- prompt ---\n%s\n--------------\n", env.Prompt(g, past, pcfg))
		}
		fmt.Fprintln(w, "Admissible actions:")
		for i, a := range adm {
			fmt.Fprintf(w, "  %2d. %s\n", i+1, a)
		}
		if opts.Oracle {
			fmt.Fprintf(w, "Optimal: %s (plan length %d)\n", strings.Join(env.OptimalActions(g), "; "), env.PlanLength(g))
		}
		fmt.Fprint(w, "> ")
		if !in.Scan() {
			fmt.Fprintf(w, "\nStopped after %d steps.\n", g.Steps())
			return in.Err()
		}
		line := strings.TrimSpace(in.Text())
		if line == "quit" || line == "exit" {
			fmt.Fprintf(w, "Stopped after %d steps.\n", g.Steps())
			return nil
		}
		action := line
		if k, err := strconv.Atoi(line); err == nil && k >= 1 && k <= len(adm) {
			action = adm[k-1]
		}
		past = append(past, env.Turn{Observation: g.Observation(), Action: env.ParseAction(action)})
		// The next turn shows the observation; the last one is shown here.
		if obs, reward, done := g.Step(action); done {
			fmt.Fprintf(w, "%s\nReward %g.\n", obs, reward)
		}
	}
	switch {
	case g.Solved():
		fmt.Fprintf(w, "\nSolved in %d steps (the oracle plan from the start has %d).\n", g.Steps(), planFromStart(task))
	case g.Failed():
		fmt.Fprintf(w, "\nThe task failed after %d steps.\n", g.Steps())
	default:
		fmt.Fprintf(w, "\nOut of steps: the limit is %d.\n", g.StepLimit())
	}
	return nil
}

func planFromStart(task env.Task) int {
	g, _, err := env.Start(task)
	if err != nil {
		return -1
	}
	return env.PlanLength(g)
}
