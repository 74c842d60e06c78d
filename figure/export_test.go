package figure

import "testing"

// Exports of the Chromium helpers for the external test of a report made by
// `gradcouple report` (chromium_report_test.go, package figure_test, which
// may import internal/cli: package figure's own tests may not).

// Chromium is chromium.
func Chromium(t *testing.T) (bin, dir string) { return chromium(t) }

// RunChromium is runChromium, returning the browser's log and stdout.
func RunChromium(t *testing.T, bin, page string, args ...string) (log string, stdout []byte) {
	r := runChromium(t, bin, page, args...)
	return r.log, r.out
}

// CheckLayout is checkLayout.
func CheckLayout(t *testing.T, bin, page string, width int, minFont float64) {
	checkLayout(t, bin, page, width, minFont)
}

var (
	ConsoleLines = consoleLines
	FigureBoxes  = figureBoxes
	Ink          = ink
	DecodePNG    = decodePNG
)
