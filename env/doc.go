// Package env holds gradcouple's two bundled text environments, their task
// splits, an exact oracle planner and a judge (DESIGN.md §5). They are small
// worlds in which, as in ALFWorld and ScienceWorld, consecutive prompts are
// nearly identical and the action space is small, so gradient coupling shows
// up; and in which the truth about every action is known.
//
//   - Household (ALFWorld-like): numbered receptacles (cabinet 1, countertop
//     1, fridge 1, ...) that may be opened and closed, objects with
//     properties (cleanable, heatable, coolable, small enough to examine),
//     a desklamp, and ALFWorld's six task families with ALFWorld's phrasing:
//     pick_and_place_simple, pick_clean_then_place_in_recep,
//     pick_heat_then_place_in_recep, pick_cool_then_place_in_recep,
//     look_at_obj_in_light, pick_two_obj_and_place.
//   - Lab (ScienceWorld-like): rooms joined by doors (a graph), fixtures
//     (counter, stove or furnace, freezer, flower pot, bowl, workbench,
//     answer boxes), items, devices that are activated and deactivated,
//     "wait" (time only passes when waiting) and "focus on" (focusing on
//     anything but the task's next target fails the task at once), with five
//     multi-stage families: change_state, measure_temperature, grow_plant,
//     mix_paint, power_component.
//
// # API
//
// A Task is generated from (environment, split, seed) by NewTask or Tasks and
// named "ENV/SPLIT/SEED" (Task.ID), which ParseTaskID turns back into the same
// task. Generation is deterministic (math/rand/v2 PCG seeded from the seed and
// the domain; no global RNG).
//
//	task, _ := env.NewTask(env.Household, env.SplitTrain, 42)
//	e, obs, _ := env.Start(task)           // or env.New(name) then e.Reset(task)
//	e.Admissible()                         // ["go to cabinet 1", ..., "look", "inventory"]
//	obs, reward, done := e.Step("go to cabinet 1")
//	e.Goal(); e.StateKey(); e.StepLimit(); e.Steps(); e.Solved(); e.Failed(); e.Clone()
//
// Env is the interface of both worlds. Step parses its text with ParseAction
// (which also extracts verl-agent's <action>...</action>); text that is not
// admissible gets ALFWorld's "Nothing happens." and still costs a step. The
// reward is 1 on the solving step, else 0.
//
// The oracle: OptimalActions(e) is the set of admissible actions that lie on
// some shortest plan from the current state to the goal; PlanLength(e) the
// length of such a plan; Demonstration(task) an optimal action sequence from
// the start (the cold-start data). The planner computes exact distances in
// closed form over the symbolic state (hhDist, labDist, whose doc comments give
// the argument) and is tested equal to exhaustive breadth-first search over
// every reachable state of small worlds, and to forward search from states of
// generated worlds. It runs at roughly a million calls per second (README).
//
// The judge: Judge{J, Eps}.Verdict(e, action, rng) returns the majority of J
// judgments of "action is in OptimalActions(e)", each flipped with
// probability Eps; it is deterministic given rng. Judge.Labels sets what the
// truth is relative to: the full state (default), what the observations
// revealed (RevealedOptimalActions), or the full state with the blind steps
// (Blind: the optimal set depends on what was never observed) left
// unlabelled (Judge.Excludes). Identifiability measures how often steps are
// blind or their prompts ambiguous.
//
// Prompts: Prompt(e, past, cfg) is the actor's prompt in the style of
// verl-agent's ALFWorld prompt: goal, the last cfg.History (default 2)
// observations and actions, the step number, the current observation and
// the admissible actions. The same function serves `gradcouple env sample`
// and the trainer. Jaccard measures the token overlap of two prompts.
//
// Vocabulary: Tokens splits text into word tokens (lowercased; runs of
// letters, runs of digits, single punctuation characters) and Words(name)
// lists every token any observation, goal, prompt or admissible action of the
// environment can contain, over all splits: the vocabulary of a word-level
// actor.
//
// Rollouts: Policy (OraclePolicy, RandomPolicy, MixPolicy) and Play produce a
// Trajectory with prompts, actions, state keys and judge verdicts; Sample turns
// groups of rollouts into trajlog step records; Stats measures the splits.
//
// # Splits
//
// train and eval-in come from one in-domain generator (seen layouts, seen
// object, substance, plant, colour and component types) and are partitioned
// by the instance fingerprint: an instance whose fingerprint is 0 mod 5 is
// eval-in, any other is train, so eval-in holds unseen instances of seen
// types and layouts. eval-out comes from the out-of-domain generator of one
// shift type per task (Task.Shift, Shifts: seed mod 3): names (generated
// words for the goal's object and receptacle, substance, plant, ...),
// layout (held-out rooms or room graphs) or knowledge (a fact no train task
// needs, stated in the goal). README.md in this directory lists exactly
// what differs.
//
// # Twin tasks
//
// "household-twin" and "lab-twin" (WorldOptions, ParseWorld) make train and
// eval-in seeds 2s and 2s+1 twins (TwinSeed, HasTwins): one world, goals one
// cue token apart (the target receptacle type; the measure threshold) that
// change the optimal action at one decision state. "-twin-alias" hides the
// cue (the negative control), as the bandit's "-alias" does.
package env
