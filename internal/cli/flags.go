package cli

import (
	"fmt"
	"strconv"
	"strings"
)

// parseFloats parses a comma-separated list of numbers given to --name.
func parseFloats(name, s string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil {
			return nil, &UsageError{Msg: fmt.Sprintf("--%s %q: %q is not a number", name, s, f)}
		}
		out = append(out, v)
	}
	return out, nil
}

// parseInts parses a comma-separated list of integers given to --name.
func parseInts(name, s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return nil, &UsageError{Msg: fmt.Sprintf("--%s %q: %q is not an integer", name, s, f)}
		}
		out = append(out, v)
	}
	return out, nil
}
