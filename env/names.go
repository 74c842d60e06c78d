package env

import "strings"

// Held-out names of the names shift (ShiftNames): procedurally generated
// nonsense words, one list per role, that only eval-out tasks of the names
// shift use. A name joins a first syllable (consonant and vowel) to a second
// one (consonant, vowel, consonants): "bo" + "dax" is "bodax". Each role has
// its own first syllables, so no name belongs to two roles, and every name
// is one word token (Tokens) that no other text of the environments
// contains (TestHeldOutNames). Each list has 8 x 8 = 64 names.
var (
	// Household: the goal object's type and the target receptacle's type
	// (or, in look_at_obj_in_light, that of the lamp's receptacle).
	hhNamesObject = syllableNames("ba be bi bo bu da de di", "dax fep gim lub nor tav wex zid")
	hhNamesRecep  = syllableNames("ka ke ki ko ku ma me mi", "brol clent drup frim glov plink trask snod")
	// Lab: the substance of change_state, the measured object of
	// measure_temperature, the plant of grow_plant and the load of
	// power_component.
	labNamesSubstance = syllableNames("la le li lo lu na ne ni", "vox rilm gant pesh tolk murn zeb quil")
	labNamesMeasured  = syllableNames("pa pe pi po pu ra re ri", "dorn fask helm jurt kalp nist sorb yulm")
	labNamesPlant     = syllableNames("sa se si so su ta te ti", "bram crel dusk florn grib hask morv plen")
	labNamesLoad      = syllableNames("va ve vi vo vu za ze zi", "tron blex chim drok fent glim spor twak")
)

// syllableNames returns every first+second syllable pair, firsts in the
// outer loop: len(firsts) x len(seconds) names (fields of the two strings).
func syllableNames(firsts, seconds string) []string {
	var out []string
	for _, a := range strings.Fields(firsts) {
		for _, b := range strings.Fields(seconds) {
			out = append(out, a+b)
		}
	}
	return out
}

// heldOutNames lists the name lists of the world's roles, by role name.
func heldOutNames(world string) map[string][]string {
	switch world {
	case Household:
		return map[string][]string{"object": hhNamesObject, "receptacle": hhNamesRecep}
	case Lab:
		return map[string][]string{"substance": labNamesSubstance, "measured": labNamesMeasured,
			"plant": labNamesPlant, "load": labNamesLoad}
	}
	return nil
}
