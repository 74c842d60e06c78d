package env_test

import (
	"fmt"
	"math/rand/v2"

	"github.com/gradcouple/gradcouple/env"
)

// A task is regenerated from its ID; the oracle knows the optimal actions
// and the judge labels actions against them.
func Example() {
	task, err := env.ParseTaskID("household/train/0")
	if err != nil {
		panic(err)
	}
	e, obs, _ := env.Start(task)
	fmt.Println(task.Type)
	fmt.Println(task.Goal)
	fmt.Println(obs)
	fmt.Printf("optimal: %q\n", env.OptimalActions(e))
	good, votes := env.Judge{J: 5, Eps: 0.1}.Verdict(e, "look", rand.New(rand.NewPCG(1, 2)))
	fmt.Println("look judged good:", good, "votes:", votes)
	demo, _ := env.Demonstration(task)
	fmt.Printf("demonstration: %q\n", demo)
	// Output:
	// pick_clean_then_place_in_recep
	// clean some plate and put it in countertop.
	// You are in the middle of a room. Looking quickly around you, you see a cabinet 1, a countertop 1, a diningtable 1, a fridge 1, a microwave 1, a sinkbasin 1, and a shelf 1.
	// optimal: ["go to shelf 1"]
	// look judged good: false votes: 0
	// demonstration: ["go to shelf 1" "take plate 1 from shelf 1" "go to sinkbasin 1" "clean plate 1 with sinkbasin 1" "go to countertop 1" "put plate 1 in/on countertop 1"]
}

// Prompt builds the actor's prompt of the current state.
func ExamplePrompt() {
	task, _ := env.ParseTaskID("lab/train/4")
	e, _, _ := env.Start(task)
	var past []env.Turn
	for _, a := range []string{"look around", "wait"} {
		past = append(past, env.Turn{Observation: e.Observation(), Action: a})
		e.Step(a)
	}
	fmt.Println(env.Prompt(e, past, env.PromptConfig{History: 1}))
	// Output:
	// You are an agent in a science lab. Your task is to: power the red bulb by wiring it to the battery. First, focus on the red bulb.
	// Your last 1 observations and actions: [Observation 2: You are in the workshop. You see a workbench holding a battery, a gray wire, a green bulb and a red bulb, and a table. Action 2: wait]
	// Now at step 3, your observation is: You wait.
	// Your admissible actions are: [go to hallway, go to greenhouse, go to art studio, connect gray wire to battery, connect gray wire to green bulb, connect gray wire to red bulb, focus on battery, focus on gray wire, focus on green bulb, focus on red bulb, wait, look around, inventory].
	// Your action:
}
