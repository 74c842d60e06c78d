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

// hhRecTypes lists every receptacle type of every split. The last four only
// occur in held-out (eval-out) layouts.
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
	// held out
	{"bathtubbasin", false, devSink},
	{"toilet", false, devNone},
	{"towelholder", false, devNone},
	{"safe", true, devNone},
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
	name    string
	heldOut bool
	props   uint8
	spawn   []string // receptacle types it starts in (and may be asked to go to)
}

// hhObjTypes lists the object types. Held-out types are goal objects only in
// eval-out; eval-out distractors come from both lists.
var hhObjTypes = []hhObjType{
	{"apple", false, pClean | pHeat | pCool, []string{"countertop", "diningtable", "fridge", "garbagecan"}},
	{"potato", false, pClean | pHeat | pCool, []string{"countertop", "diningtable", "fridge", "cabinet", "garbagecan"}},
	{"egg", false, pHeat | pCool, []string{"countertop", "diningtable", "fridge"}},
	{"bread", false, pHeat | pCool, []string{"countertop", "diningtable", "cabinet"}},
	{"mug", false, pClean | pHeat | pCool | pSmall, []string{"cabinet", "countertop", "shelf", "coffeetable", "desk", "sidetable", "diningtable"}},
	{"plate", false, pClean | pHeat | pCool, []string{"cabinet", "countertop", "diningtable", "shelf"}},
	{"bowl", false, pClean | pHeat | pCool | pSmall, []string{"cabinet", "countertop", "shelf", "diningtable", "desk"}},
	{"knife", false, pClean, []string{"drawer", "countertop", "diningtable"}},
	{"spoon", false, pClean, []string{"drawer", "countertop", "diningtable"}},
	{"book", false, pSmall, []string{"desk", "shelf", "bed", "sidetable", "coffeetable", "sofa", "dresser", "drawer"}},
	{"cellphone", false, pSmall, []string{"desk", "bed", "sidetable", "sofa", "dresser", "drawer", "armchair"}},
	{"keychain", false, pSmall, []string{"drawer", "sidetable", "dresser", "coffeetable", "desk", "shelf", "tvstand"}},
	{"pen", false, pSmall, []string{"desk", "drawer", "shelf", "sidetable"}},
	{"pencil", false, pSmall, []string{"desk", "drawer", "shelf", "sidetable", "dresser"}},
	{"cd", false, pSmall, []string{"desk", "drawer", "shelf", "tvstand"}},
	{"alarmclock", false, pSmall, []string{"desk", "sidetable", "dresser", "shelf"}},
	{"remotecontrol", false, pSmall, []string{"sofa", "coffeetable", "tvstand", "armchair", "sidetable"}},
	{"pillow", false, 0, []string{"bed", "sofa", "armchair"}},
	{"vase", false, 0, []string{"shelf", "coffeetable", "sidetable", "tvstand", "cabinet"}},
	{"creditcard", false, pSmall, []string{"desk", "drawer", "sidetable", "countertop", "coffeetable", "dresser"}},
	{"saltshaker", false, 0, []string{"countertop", "cabinet", "shelf", "diningtable"}},
	// held out
	{"tomato", true, pClean | pHeat | pCool, []string{"countertop", "fridge", "diningtable", "garbagecan"}},
	{"cup", true, pClean | pHeat | pCool | pSmall, []string{"cabinet", "countertop", "shelf", "desk", "sidetable"}},
	{"lettuce", true, pClean | pCool, []string{"fridge", "countertop", "diningtable"}},
	{"pan", true, pClean | pHeat, []string{"countertop", "cabinet"}},
	{"soapbar", true, pClean, []string{"bathtubbasin", "countertop", "sinkbasin", "toilet", "cabinet"}},
	{"cloth", true, pClean, []string{"bathtubbasin", "countertop", "drawer", "towelholder", "cabinet"}},
	{"watch", true, pSmall, []string{"desk", "drawer", "sidetable", "shelf", "dresser", "safe"}},
	{"laptop", true, pSmall, []string{"desk", "bed", "sofa", "sidetable", "armchair"}},
	{"candle", true, 0, []string{"toilet", "countertop", "shelf", "cabinet"}},
	{"spraybottle", true, 0, []string{"toilet", "cabinet", "countertop", "garbagecan"}},
	{"toiletpaper", true, 0, []string{"toilet", "cabinet", "countertop", "shelf"}},
	{"statue", true, pSmall, []string{"shelf", "desk", "sidetable", "safe", "dresser"}},
	{"newspaper", true, pSmall, []string{"desk", "sidetable", "armchair", "shelf"}},
}

type hhCount struct {
	typ      string
	min, max int
}

type hhLayout struct {
	name     string
	heldOut  bool
	receps   []hhCount
	lampOn   string // receptacle type the desklamp stands on ("" for none)
	families []int
}

// hhLayouts are the room templates. train and eval-in use the first four,
// eval-out the last three.
var hhLayouts = []hhLayout{
	{"kitchen", false, []hhCount{{"cabinet", 1, 3}, {"countertop", 1, 1}, {"drawer", 1, 1}, {"fridge", 1, 1}, {"microwave", 1, 1}, {"sinkbasin", 1, 1}, {"garbagecan", 1, 1}},
		"", []int{hhPick, hhClean, hhHeat, hhCool, hhTwo}},
	{"diner", false, []hhCount{{"cabinet", 1, 2}, {"countertop", 1, 1}, {"diningtable", 1, 1}, {"drawer", 0, 1}, {"fridge", 1, 1}, {"microwave", 1, 1}, {"sinkbasin", 1, 1}, {"shelf", 0, 1}},
		"", []int{hhPick, hhClean, hhHeat, hhCool, hhTwo}},
	{"bedroom", false, []hhCount{{"bed", 1, 1}, {"desk", 1, 1}, {"drawer", 1, 2}, {"shelf", 1, 2}, {"sidetable", 0, 1}, {"dresser", 1, 1}, {"garbagecan", 0, 1}},
		"desk", []int{hhPick, hhExamine, hhTwo}},
	{"livingroom", false, []hhCount{{"sofa", 1, 1}, {"armchair", 0, 1}, {"coffeetable", 1, 1}, {"sidetable", 1, 1}, {"cabinet", 1, 2}, {"drawer", 1, 1}, {"tvstand", 1, 1}, {"garbagecan", 0, 1}},
		"sidetable", []int{hhPick, hhExamine, hhTwo}},
	// held out
	{"bathroom", true, []hhCount{{"bathtubbasin", 1, 1}, {"sinkbasin", 1, 1}, {"toilet", 1, 1}, {"towelholder", 1, 1}, {"countertop", 1, 1}, {"cabinet", 1, 2}, {"drawer", 0, 1}, {"garbagecan", 0, 1}},
		"", []int{hhPick, hhClean, hhTwo}},
	{"studio", true, []hhCount{{"desk", 1, 1}, {"bed", 0, 1}, {"fridge", 1, 1}, {"microwave", 1, 1}, {"sinkbasin", 1, 1}, {"countertop", 1, 1}, {"cabinet", 1, 2}, {"shelf", 0, 1}},
		"desk", []int{hhPick, hhClean, hhHeat, hhCool, hhExamine, hhTwo}},
	{"office", true, []hhCount{{"desk", 1, 1}, {"shelf", 1, 2}, {"drawer", 1, 2}, {"sidetable", 1, 1}, {"armchair", 0, 1}, {"safe", 1, 1}, {"garbagecan", 0, 1}},
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
