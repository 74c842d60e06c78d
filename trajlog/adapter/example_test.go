package adapter_test

import (
	"fmt"
	"strings"

	"github.com/gradcouple/gradcouple/trajlog/adapter"
)

// A verl rollout dump of one prompt sampled four times: the group is derived
// from the identical prompts and the GRPO advantages are recomputed,
// (R - 0.5) / (sqrt(1/3) + 1e-6) = ±0.866.
func ExampleReadVerl() {
	dump := `{"input": "2+2=", "output": "4", "score": 1.0, "step": 3}
{"input": "2+2=", "output": "5", "score": 0.0, "step": 3}
{"input": "2+2=", "output": "22", "score": 0.0, "step": 3}
{"input": "2+2=", "output": "four", "score": 1.0, "step": 3}
`
	res, err := adapter.ReadVerl(strings.NewReader(dump), "rollouts/3.jsonl", adapter.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range res.Records {
		fmt.Printf("%s %s %-4s outcome=%v success=%v advantage=%+.3f\n", r.TrajID, r.GroupID, r.Action, r.Outcome, r.Success, r.Advantage)
	}
	fmt.Println("run:", res.Records[0].Run)
	fmt.Println("derived:", strings.Join(res.Derived, ","))
	// Output:
	// 3.jsonl:1 step-3/g-0 4    outcome=1 success=true advantage=+0.866
	// 3.jsonl:2 step-3/g-0 5    outcome=0 success=false advantage=-0.866
	// 3.jsonl:3 step-3/g-0 22   outcome=0 success=false advantage=-0.866
	// 3.jsonl:4 step-3/g-0 four outcome=1 success=true advantage=+0.866
	// run: rollouts
	// derived: advantage,group_id,label,label_votes,logprob,split,state_key,success,traj_id,valid
}

// Bad input is reported with the file, the line and the field.
func ExampleReadVerl_badInput() {
	_, err := adapter.ReadVerl(strings.NewReader(`{"input": "p", "output": "a", "score": NaN, "step": 1}`), "1.jsonl", adapter.Options{})
	fmt.Println(err)
	// Output:
	// 1.jsonl: row 1: field score: is NaN (json.dumps writes float('nan') as NaN); a reward must be finite
}
