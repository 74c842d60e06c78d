package env

// Household task families, named as in ALFWorld.
const (
	hhPick    = iota // pick_and_place_simple
	hhClean          // pick_clean_then_place_in_recep
	hhHeat           // pick_heat_then_place_in_recep
	hhCool           // pick_cool_then_place_in_recep
	hhExamine        // look_at_obj_in_light
	hhTwo            // pick_two_obj_and_place
	hhFamilies
)

var hhFamilyNames = [hhFamilies]string{
	"pick_and_place_simple",
	"pick_clean_then_place_in_recep",
	"pick_heat_then_place_in_recep",
	"pick_cool_then_place_in_recep",
	"look_at_obj_in_light",
	"pick_two_obj_and_place",
}

// hhGoalTemplates holds ALFWorld's two phrasings of each family's goal; %o
// is the object type and %r the receptacle type.
var hhGoalTemplates = [hhFamilies][2]string{
	{"put a %o in %r.", "put some %o on %r."},
	{"put a clean %o in %r.", "clean some %o and put it in %r."},
	{"put a hot %o in %r.", "heat some %o and put it in %r."},
	{"put a cool %o in %r.", "cool some %o and put it in %r."},
	{"look at %o under the desklamp.", "examine the %o with the desklamp."},
	{"put two %o in %r.", "find two %o and put them in %r."},
}

// Devices of receptacles.
const (
	devNone uint8 = iota
	devSink
	devMicrowave
	devFridge
)

// familyDevice is the device a family needs (devNone for pick, examine, two).
var familyDevice = [hhFamilies]uint8{devNone, devSink, devMicrowave, devFridge, devNone, devNone}

// Object properties.
const (
	pClean uint8 = 1 << iota // can be cleaned at a sinkbasin or bathtubbasin
	pHeat                    // can be heated in a microwave
	pCool                    // can be cooled in a fridge
	pSmall                   // can be examined under a lamp
)

// familyProp is the object property a family needs.
var familyProp = [hhFamilies]uint8{0, pClean, pHeat, pCool, pSmall, 0}

// Object state bits (hhState.attr).
const (
	aClean uint8 = 1 << iota
	aHot
	aCold
	aOn // a lamp is switched on
)

// familyAttr is the state bit a family's goal object must have.
var familyAttr = [hhFamilies]uint8{0, aClean, aHot, aCold, 0, 0}

type hhRecType struct {
	name     string
	openable bool
	device   uint8
}

// hhRecTypes lists every receptacle type of every split. The last seven
// only occur in eval-out: four in the held-out layouts of the layout shift,
// three as the devices of the knowledge shift (hhKnowledge).
var hhRecTypes = []hhRecType{
	{"cabinet", true, devNone},
	{"countertop", false, devNone},
	{"drawer", true, devNone},
	{"fridge", true, devFridge},
	{"microwave", true, devMicrowave},
	{"sinkbasin", false, devSink},
	{"garbagecan", false, devNone},
	{"diningtable", false, devNone},
	{"shelf", false, devNone},
	{"bed", false, devNone},
	{"desk", false, devNone},
	{"sidetable", false, devNone},
	{"dresser", false, devNone},
	{"sofa", false, devNone},
	{"armchair", false, devNone},
	{"coffeetable", false, devNone},
	{"tvstand", false, devNone},
	// held out: layout shift (ShiftLayout)
	{"bathtubbasin", false, devSink},
	{"toilet", false, devNone},
	{"towelholder", false, devNone},
	{"safe", true, devNone},
	// held out: knowledge shift (ShiftKnowledge), devices of new types
	{"washtub", false, devSink},
	{"stoveburner", false, devMicrowave},
	{"icebox", true, devFridge},
}

func hhRecTypeOf(name string) hhRecType {
	for _, t := range hhRecTypes {
		if t.name == name {
			return t
		}
	}
	panic("env: unknown receptacle type " + name)
}

type hhObjType struct {
	name  string
	props uint8
	spawn []string // receptacle types it starts in (and may be asked to go to)
}

// hhObjTypes lists the object types of every split (the names shift renames
// them, hhNamesObject). A receptacle type that only held-out layouts have
// (safe) is at the end of a spawn list, where no in-domain draw sees it.
var hhObjTypes = []hhObjType{
	{"apple", pClean | pHeat | pCool, []string{"countertop", "diningtable", "fridge", "garbagecan"}},
	{"potato", pClean | pHeat | pCool, []string{"countertop", "diningtable", "fridge", "cabinet", "garbagecan"}},
	{"egg", pHeat | pCool, []string{"countertop", "diningtable", "fridge"}},
	{"bread", pHeat | pCool, []string{"countertop", "diningtable", "cabinet"}},
	{"mug", pClean | pHeat | pCool | pSmall, []string{"cabinet", "countertop", "shelf", "coffeetable", "desk", "sidetable", "diningtable"}},
	{"plate", pClean | pHeat | pCool, []string{"cabinet", "countertop", "diningtable", "shelf"}},
	{"bowl", pClean | pHeat | pCool | pSmall, []string{"cabinet", "countertop", "shelf", "diningtable", "desk"}},
	{"knife", pClean, []string{"drawer", "countertop", "diningtable"}},
	{"spoon", pClean, []string{"drawer", "countertop", "diningtable"}},
	{"book", pSmall, []string{"desk", "shelf", "bed", "sidetable", "coffeetable", "sofa", "dresser", "drawer"}},
	{"cellphone", pSmall, []string{"desk", "bed", "sidetable", "sofa", "dresser", "drawer", "armchair", "safe"}},
	{"keychain", pSmall, []string{"drawer", "sidetable", "dresser", "coffeetable", "desk", "shelf", "tvstand", "safe"}},
	{"pen", pSmall, []string{"desk", "drawer", "shelf", "sidetable"}},
	{"pencil", pSmall, []string{"desk", "drawer", "shelf", "sidetable", "dresser"}},
	{"cd", pSmall, []string{"desk", "drawer", "shelf", "tvstand"}},
	{"alarmclock", pSmall, []string{"desk", "sidetable", "dresser", "shelf"}},
	{"remotecontrol", pSmall, []string{"sofa", "coffeetable", "tvstand", "armchair", "sidetable"}},
	{"pillow", 0, []string{"bed", "sofa", "armchair"}},
	{"vase", 0, []string{"shelf", "coffeetable", "sidetable", "tvstand", "cabinet"}},
	{"creditcard", pSmall, []string{"desk", "drawer", "sidetable", "countertop", "coffeetable", "dresser", "safe"}},
	{"saltshaker", 0, []string{"countertop", "cabinet", "shelf", "diningtable"}},
}

type hhCount struct {
	typ      string
	min, max int
}

type hhLayout struct {
	name     string
	shift    string // "" in-domain; ShiftLayout: eval-out of the layout shift only
	receps   []hhCount
	lampOn   string // receptacle type the desklamp stands on ("" for none)
	families []int
}

// hhLayouts are the room templates. train and eval-in use the first four,
// as do the names and knowledge shifts of eval-out; the layout shift uses
// the last three.
var hhLayouts = []hhLayout{
	{"kitchen", "", []hhCount{{"cabinet", 1, 3}, {"countertop", 1, 1}, {"drawer", 1, 1}, {"fridge", 1, 1}, {"microwave", 1, 1}, {"sinkbasin", 1, 1}, {"garbagecan", 1, 1}},
		"", []int{hhPick, hhClean, hhHeat, hhCool, hhTwo}},
	{"diner", "", []hhCount{{"cabinet", 1, 2}, {"countertop", 1, 1}, {"diningtable", 1, 1}, {"drawer", 0, 1}, {"fridge", 1, 1}, {"microwave", 1, 1}, {"sinkbasin", 1, 1}, {"shelf", 0, 1}},
		"", []int{hhPick, hhClean, hhHeat, hhCool, hhTwo}},
	{"bedroom", "", []hhCount{{"bed", 1, 1}, {"desk", 1, 1}, {"drawer", 1, 2}, {"shelf", 1, 2}, {"sidetable", 0, 1}, {"dresser", 1, 1}, {"garbagecan", 0, 1}},
		"desk", []int{hhPick, hhExamine, hhTwo}},
	{"livingroom", "", []hhCount{{"sofa", 1, 1}, {"armchair", 0, 1}, {"coffeetable", 1, 1}, {"sidetable", 1, 1}, {"cabinet", 1, 2}, {"drawer", 1, 1}, {"tvstand", 1, 1}, {"garbagecan", 0, 1}},
		"sidetable", []int{hhPick, hhExamine, hhTwo}},
	// held out (ShiftLayout)
	{"bathroom", ShiftLayout, []hhCount{{"bathtubbasin", 1, 1}, {"sinkbasin", 1, 1}, {"toilet", 1, 1}, {"towelholder", 1, 1}, {"countertop", 1, 1}, {"cabinet", 1, 2}, {"drawer", 0, 1}, {"garbagecan", 0, 1}},
		"", []int{hhPick, hhClean, hhTwo}},
	{"studio", ShiftLayout, []hhCount{{"desk", 1, 1}, {"bed", 0, 1}, {"fridge", 1, 1}, {"microwave", 1, 1}, {"sinkbasin", 1, 1}, {"countertop", 1, 1}, {"cabinet", 1, 2}, {"shelf", 0, 1}},
		"desk", []int{hhPick, hhClean, hhHeat, hhCool, hhExamine, hhTwo}},
	{"office", ShiftLayout, []hhCount{{"desk", 1, 1}, {"shelf", 1, 2}, {"drawer", 1, 2}, {"sidetable", 1, 1}, {"armchair", 0, 1}, {"safe", 1, 1}, {"garbagecan", 0, 1}},
		"desk", []int{hhPick, hhExamine, hhTwo}},
}

// hhMaxLayout is the most receptacles a layout can have: eight keeps the
// prompts short (the first observation lists them all).
const hhMaxLayout = 8

// hhCapacity is the most objects a receptacle starts with (lamp included),
// which keeps observations short.
const hhCapacity = 3

// hhStepLimit is the household episode length.
const hhStepLimit = 30

// hhKnowledge is the knowledge shift of a device family (clean, heat,
// cool): the family's device type is replaced by a held-out one, and the
// goal states what it does, likening it to the device every train task
// uses.
var hhKnowledge = map[int]struct{ device, heldOut, fact string }{
	hhClean: {"sinkbasin", "washtub", "The washtub cleans like a sinkbasin."},
	hhHeat:  {"microwave", "stoveburner", "The stoveburner heats like a microwave."},
	hhCool:  {"fridge", "icebox", "The icebox cools like a fridge."},
}
