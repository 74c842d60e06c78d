package env

// Lab task families.
const (
	labChange  = iota // change_state: melt, freeze or boil a substance
	labMeasure        // measure_temperature: thermometer, then the right answer box
	labGrow           // grow_plant: plant a seed, water it, wait for it to grow
	labMix            // mix_paint: mix two paints into a secondary colour
	labPower          // power_component: wire a component to the battery
	labFamilies
)

var labFamilyNames = [labFamilies]string{
	"change_state",
	"measure_temperature",
	"grow_plant",
	"mix_paint",
	"power_component",
}

// Fixture kinds.
const (
	fkPlain   uint8 = iota // counter, table, shelf, bench: holds items
	fkHeater               // stove, furnace: heats what is on it while on
	fkFreezer              // cools what is in it
	fkPot                  // flower pot: seeds in it grow when wet
	fkBowl                 // mixes the paints in it
	fkBench                // workbench: holds items (the circuit)
	fkBox                  // answer box: a focus target only
)

type labFixSpec struct {
	room int
	name string
	kind uint8
}

type labLayout struct {
	name     string
	shift    string // "" in-domain; ShiftLayout or ShiftKnowledge: eval-out of that shift only
	rooms    []string
	edges    [][2]int
	fixtures []labFixSpec
	// A layout of the knowledge shift serves the families whose task needs
	// what is new in it, and fact (appended to the goal) states it.
	families []int
	fact     string
}

// labLayouts are the world templates: train and eval-in use the first two,
// as do the names shift and the mix_paint tasks of the knowledge shift;
// the layout shift uses loop and line (other room graphs of the same rooms
// and fixtures, the stove in another room); the knowledge shift uses ring
// (the answer boxes outside) for measure_temperature and foundry (a furnace
// in a foundry heats instead of the stove) for melting and boiling.
var labLayouts = []labLayout{
	{"hub", "", []string{"hallway", "kitchen", "workshop", "greenhouse", "art studio"},
		[][2]int{{0, 1}, {0, 2}, {0, 3}, {0, 4}},
		[]labFixSpec{
			{0, "red box", fkBox}, {0, "blue box", fkBox},
			{1, "counter", fkPlain}, {1, "stove", fkHeater}, {1, "freezer", fkFreezer},
			{2, "workbench", fkBench}, {2, "shelf", fkPlain},
			{3, "flower pot", fkPot}, {3, "table", fkPlain},
			{4, "bowl", fkBowl}, {4, "shelf", fkPlain},
		}, nil, ""},
	{"corridor", "", []string{"kitchen", "hallway", "workshop", "greenhouse", "art studio"},
		[][2]int{{0, 1}, {1, 2}, {2, 3}, {2, 4}},
		[]labFixSpec{
			{0, "counter", fkPlain}, {0, "stove", fkHeater}, {0, "freezer", fkFreezer},
			{1, "bench", fkPlain}, {1, "red box", fkBox}, {1, "blue box", fkBox},
			{2, "workbench", fkBench}, {2, "table", fkPlain},
			{3, "flower pot", fkPot}, {3, "shelf", fkPlain},
			{4, "bowl", fkBowl}, {4, "table", fkPlain},
		}, nil, ""},
	// held out: the layout shift
	{"loop", ShiftLayout, []string{"kitchen", "hallway", "workshop", "art studio", "greenhouse"},
		[][2]int{{0, 1}, {1, 2}, {2, 3}, {3, 4}, {4, 0}},
		[]labFixSpec{
			{0, "counter", fkPlain}, {0, "freezer", fkFreezer},
			{1, "red box", fkBox}, {1, "blue box", fkBox}, {1, "bench", fkPlain},
			{2, "stove", fkHeater}, {2, "workbench", fkBench},
			{3, "bowl", fkBowl}, {3, "shelf", fkPlain},
			{4, "flower pot", fkPot}, {4, "table", fkPlain},
		}, nil, ""},
	{"line", ShiftLayout, []string{"greenhouse", "kitchen", "workshop", "hallway", "art studio"},
		[][2]int{{0, 1}, {1, 2}, {2, 3}, {3, 4}},
		[]labFixSpec{
			{0, "flower pot", fkPot}, {0, "shelf", fkPlain},
			{1, "counter", fkPlain}, {1, "stove", fkHeater}, {1, "freezer", fkFreezer},
			{2, "workbench", fkBench}, {2, "table", fkPlain},
			{3, "red box", fkBox}, {3, "blue box", fkBox},
			{4, "bowl", fkBowl}, {4, "table", fkPlain},
		}, nil, ""},
	// held out: the knowledge shift
	{"ring", ShiftKnowledge, []string{"kitchen", "workshop", "art studio", "greenhouse", "outside"},
		[][2]int{{0, 1}, {1, 2}, {2, 3}, {3, 0}, {3, 4}},
		[]labFixSpec{
			{0, "counter", fkPlain}, {0, "freezer", fkFreezer},
			{1, "workbench", fkBench}, {1, "stove", fkHeater},
			{2, "bowl", fkBowl}, {2, "table", fkPlain},
			{3, "flower pot", fkPot}, {3, "shelf", fkPlain},
			{4, "picnic table", fkPlain}, {4, "red box", fkBox}, {4, "blue box", fkBox},
		}, []int{labMeasure}, "The red box and the blue box are outside."},
	{"foundry", ShiftKnowledge, []string{"hallway", "kitchen", "foundry", "greenhouse", "art studio"},
		[][2]int{{0, 1}, {0, 2}, {0, 3}, {0, 4}},
		[]labFixSpec{
			{0, "red box", fkBox}, {0, "blue box", fkBox},
			{1, "counter", fkPlain}, {1, "freezer", fkFreezer},
			{2, "furnace", fkHeater}, {2, "workbench", fkBench},
			{3, "flower pot", fkPot}, {3, "table", fkPlain},
			{4, "bowl", fkBowl}, {4, "shelf", fkPlain},
		}, []int{labChange}, "The furnace heats like a stove."},
}

// Item kinds.
const (
	ikPlain     uint8 = iota // a distractor or a measured object
	ikSubstance              // changes phase on a heater or in a freezer
	ikThermo                 // the thermometer
	ikSeed                   // grows in a wet flower pot
	ikCan                    // the watering can
	ikPaint                  // a paint of a base colour
	ikMixture                // the paint made in the bowl (absent until mixed)
	ikPower                  // the battery
	ikLoad                   // a bulb (or a load of the names shift)
	ikWire                   // a wire with two ends
)

// Phases of substances; stages of seeds.
const (
	phSolid  = 0
	phLiquid = 1
	phGas    = 2
)

var phaseNames = [3]string{"solid", "liquid", "gaseous"}
var stageNames = [3]string{"seed", "seedling", "plant"}

// labChanges are the state changes of change_state: verb, start and target
// phase.
var labChanges = []struct {
	verb          string
	start, target int8
}{
	{"melt", phSolid, phLiquid},
	{"freeze", phLiquid, phSolid},
	{"boil", phLiquid, phGas},
}

// Type lists of every split (the names shift renames the goal's substance,
// measured object, plant or load: labNamesSubstance and friends).
var (
	labSubstances  = []string{"water", "chocolate", "butter", "honey"}
	labMeasured    = []string{"soup", "milk", "tea", "rock"}
	labPlants      = []string{"pea", "bean", "apple", "orange"}
	labLoads       = []string{"red bulb", "green bulb", "blue bulb"}
	labWires       = []string{"black wire", "orange wire", "gray wire", "yellow wire"}
	labDistractors = []string{"book", "pencil", "cup", "spoon", "ruler", "eraser", "notebook"}
)

// Paint colours: the first five are base paints, the rest are mixtures.
var labColors = []string{"red", "blue", "yellow", "white", "black", "purple", "green", "pink", "orange", "gray", "brown"}

const (
	colRed = iota
	colBlue
	colYellow
	colWhite
	colBlack
	colPurple
	colGreen
	colPink
	colOrange
	colGray
	colBrown
	nBaseColors = 5
)

// labMixes are the two-paint mixtures; any other mixture is brown.
var labMixes = []struct{ a, b, out int8 }{
	{colRed, colBlue, colPurple},
	{colBlue, colYellow, colGreen},
	{colRed, colWhite, colPink},
	{colRed, colYellow, colOrange},
	{colBlack, colWhite, colGray},
}

// Target colours of mix_paint: in-domain, and of the knowledge shift, whose
// goal states the recipe (labRecipe); black paint only occurs there.
var (
	labMixTargets    = []int8{colPurple, colGreen, colPink}
	labMixTargetsOut = []int8{colOrange, colGray}
)

// Temperatures (degrees Celsius) of items and thresholds of measure tasks.
var (
	labTemps      = []int{-8, 3, 12, 21, 36, 48, 63, 88}
	labThresholds = []int{15, 30, 45, 60}
)

// labWiresUsed is the number of wires of a power_component world: one wire
// joining battery and load closes the (toy) circuit. Two wires would double
// the connect actions and push prompts past 256 tokens.
const labWiresUsed = 1

// labDistractorsPerWorld is the number of distractor items of a lab world
// (the families bring their own wrong seeds, paints and loads).
const labDistractorsPerWorld = 1

// labCapacity is the most items a plain fixture starts with.
const labCapacity = 3

// labStepLimit is the lab episode length.
const labStepLimit = 30
