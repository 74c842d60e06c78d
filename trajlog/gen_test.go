package trajlog

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// genRecords returns n realistic step records: groups of 4 trajectories of
// household tasks, prompts in the shape of ALFWorld agent prompts (task,
// recent history, admissible actions; 400-900 bytes) that overlap heavily
// between consecutive turns. Deterministic for a seed.
func genRecords(seed uint64, n int) []Record {
	rng := rand.New(rand.NewPCG(seed, 1))
	families := []string{"pick_and_place", "pick_clean_then_place", "pick_heat_then_place",
		"pick_cool_then_place", "look_at_obj_in_light", "pick_two_obj_and_place"}
	objects := []string{"apple", "mug", "book", "cellphone", "knife", "pan", "plate", "soapbar", "tomato"}
	places := []string{"cabinet", "countertop", "drawer", "fridge", "microwave", "shelf", "sinkbasin", "stoveburner"}
	splits := []string{SplitTrain, SplitTrain, SplitTrain, SplitEvalIn, SplitEvalOut}

	recs := make([]Record, 0, n)
	for task := 0; len(recs) < n; task++ {
		iter := int32(task / 8)
		family := families[rng.IntN(len(families))]
		obj := objects[rng.IntN(len(objects))]
		dest := places[rng.IntN(len(places))]
		split := splits[rng.IntN(len(splits))]
		goal := fmt.Sprintf("put a %s %s in %s", family[:4], obj, dest)
		taskID := fmt.Sprintf("%s-%s-%s-%d", family, obj, dest, rng.IntN(1000))
		groupID := fmt.Sprintf("it%d-%s", iter, taskID)
		var admissible []string
		for _, p := range places {
			admissible = append(admissible, fmt.Sprintf("go to %s %d", p, 1+rng.IntN(3)))
		}
		admissible = append(admissible, "inventory", "look", fmt.Sprintf("take %s 1 from %s 1", obj, dest))
		for g := 0; g < 4 && len(recs) < n; g++ {
			trajID := fmt.Sprintf("%s-g%d", groupID, g)
			success := rng.IntN(2) == 0
			outcome := float32(0)
			if success {
				outcome = 10
			}
			turns := 3 + rng.IntN(10)
			var hist []string
			obs := fmt.Sprintf("You are in the middle of a room. Looking quickly around you, you see a %s 1, a %s 2, and a %s 1.",
				places[0], places[1], places[2])
			for turn := 0; turn < turns && len(recs) < n; turn++ {
				var b strings.Builder
				b.WriteString("You are an expert agent operating in the ALFRED Embodied Environment. Your task is to: ")
				b.WriteString(goal)
				fmt.Fprintf(&b, ". Prior to this step, you have already taken %d step(s). ", turn)
				if len(hist) > 0 {
					b.WriteString("Below are the most recent observations and the corresponding actions you took: ")
					for _, h := range hist[max(0, len(hist)-2):] {
						b.WriteString(h)
					}
				}
				fmt.Fprintf(&b, "You are now at step %d and your current observation is: %s ", turn+1, obs)
				b.WriteString("Your admissible actions of the current situation are: [")
				b.WriteString(strings.Join(admissible, ", "))
				b.WriteString("]. Now it's your turn to take an action.")
				action := admissible[rng.IntN(len(admissible))]
				label := int8(rng.IntN(3)) - 1
				rec := Record{
					Run:        "alfworld-grpo",
					Iteration:  iter,
					Split:      split,
					Env:        "household",
					TaskType:   family,
					TaskID:     taskID,
					GroupID:    groupID,
					TrajID:     trajID,
					Turn:       int32(turn),
					StateKey:   fmt.Sprintf("%016x", rng.Uint64()%4096),
					Prompt:     b.String(),
					Action:     action,
					Valid:      rng.IntN(10) > 0,
					Logprob:    -rng.Float32() * 5,
					Label:      label,
					LabelVotes: int8(rng.IntN(6)),
					Corrected:  rng.IntN(20) == 0,
					StepReward: 0,
					Outcome:    outcome,
					Success:    success,
					Advantage:  rng.Float32()*2 - 1,
				}
				if turn == turns-1 {
					rec.StepReward = outcome
				}
				if split != SplitTrain {
					rec.Advantage = 0
				}
				recs = append(recs, rec)
				obs = fmt.Sprintf("You arrive at %s. On the %s, you see a %s 1, and a %s 2.", action, dest, obj, objects[rng.IntN(len(objects))])
				hist = append(hist, fmt.Sprintf("[Observation %d: '%s', Action %d: '%s'] ", turn+1, obs, turn+1, action))
			}
		}
	}
	return recs
}
