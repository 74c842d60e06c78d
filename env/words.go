package env

import (
	"slices"
	"strconv"
	"strings"
)

// Fixed texts of the prompt (prompt.go), shared by both environments.
var promptLiterals = []string{
	"Your task is to:",
	"Your last observations and actions: [Observation : Action : ]",
	"Now at step , your observation is: Your observation is:",
	"Your admissible actions are: [ , ]. Your action:",
	nothingHappens,
}

// Fixed texts of household observations and actions (household.go).
var hhLiterals = []string{
	"You are in the middle of a room. Looking quickly around you, you see a , and .",
	"You arrive at . On the , you see nothing. The is open. In it, you see . The is closed.",
	"You open the . You close the . You pick up the from the . You put the in/on the .",
	"You clean the using the . You heat the using the . You cool the using the .",
	"You turn on the . You turn off the .",
	"You are facing the . Next to it, you see nothing.",
	"You are carrying: a . You are not carrying anything.",
	"go to open close take from put in/on clean with heat cool use look inventory",
	"desklamp",
}

// Fixed texts of lab observations, actions and goals (lab.go, lab_gen.go).
var labLiterals = []string{
	"You are in the . You see , and .",
	"a that is on that is off that is wet that is dry holding nothing",
	"You move to the . You pick up the . You move the to the .",
	"The is now on. The is now off. The thermometer reads degrees celsius.",
	"You water the . You mix the . It now holds . You mix the , but nothing changes.",
	"You connect the to the . The turns on. The turns off. You disconnect the .",
	"You focus on the . That is the wrong object, and the task has failed. You are already focused on the .",
	"You wait. The melts. The boils. The condenses. The freezes. The grows into a . The dries.",
	"You carry nothing. You carry and .",
	"go to pick up move to activate deactivate use thermometer on water mix connect disconnect focus on wait look around inventory",
	"the . First, focus on the .",
	"measure the temperature of the . First, focus on the thermometer. If it is above degrees celsius, focus on the red box; otherwise, focus on the blue box.",
	"grow a plant from its seed. First, focus on the seed.",
	"make paint by mixing two paints in the bowl. Then, focus on the paint.",
	"power the by wiring it to the battery. First, focus on the .",
	"thermometer watering can battery",
}

// Words returns every word token (by the rule of Tokens) that can appear in
// an observation, goal, prompt or admissible action of the named environment,
// over all splits, sorted and without duplicates. It is the vocabulary of a
// word-level actor; a test checks that sampled prompts and actions of every
// split use only these words. Prompts also echo the actor's own past
// actions, which for a word-level actor are made of these words too. Words
// returns nil for an unknown environment. Every variant of a world
// (WorldOptions) has the same words.
func Words(envName string) []string {
	if IsBandit(envName) {
		return banditWords(envName) // bandit.go
	}
	o, err := ParseWorld(envName)
	if err != nil {
		return nil
	}
	// Every variant of a world has the world's words (the twin alias word
	// included), so a checkpoint of one can start a run on another.
	return worldWords(o.World, true)
}

// worldWords is Words of a world (Household or Lab), with or without the
// held-out names of the names shift.
func worldWords(world string, names bool) []string {
	texts := append(slices.Clone(promptLiterals), promptHeaders[world], banditAlias)
	if names {
		for _, list := range heldOutNames(world) {
			texts = append(texts, list...)
		}
	}
	var maxNumber int
	switch world {
	case Household:
		texts = append(texts, hhLiterals...)
		for _, t := range hhRecTypes {
			texts = append(texts, t.name)
		}
		for _, t := range hhObjTypes {
			texts = append(texts, t.name)
		}
		for _, g := range hhGoalTemplates {
			texts = append(texts, g[0], g[1])
		}
		for _, k := range hhKnowledge {
			texts = append(texts, k.fact)
		}
		maxNumber = max(hhStepLimit, hhMaxObj)
	case Lab:
		texts = append(texts, labLiterals...)
		for _, l := range labLayouts {
			texts = append(texts, l.fact)
			texts = append(texts, l.rooms...)
			for _, f := range l.fixtures {
				texts = append(texts, f.name)
			}
		}
		for _, c := range labChanges {
			texts = append(texts, c.verb)
		}
		texts = append(texts, phaseNames[:]...)
		texts = append(texts, stageNames[:]...)
		texts = append(texts, labColors...)
		for _, list := range [][]string{labSubstances, labMeasured, labPlants, labLoads, labWires, labDistractors} {
			texts = append(texts, list...)
		}
		for _, c := range labMixTargetsOut {
			texts = append(texts, labRecipe(c))
		}
		for _, t := range slices.Concat(labTemps, labThresholds) {
			texts = append(texts, strconv.Itoa(t))
		}
		maxNumber = labStepLimit
	default:
		return nil
	}
	for i := 1; i <= maxNumber; i++ {
		texts = append(texts, strconv.Itoa(i))
	}
	var words []string
	for _, t := range texts {
		words = AppendTokens(words, strings.ReplaceAll(strings.ReplaceAll(t, "%o", " "), "%r", " "))
	}
	slices.Sort(words)
	return slices.Compact(words)
}
