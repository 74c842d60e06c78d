package figure

import (
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
)

// TensorPanel is the coupling of one run by group of parameter tensors
// (DESIGN.md §4; the Gram split K = sum_b K^b by column blocks): rows are
// the groups, columns the checkpoints.
type TensorPanel struct {
	Run        string
	Groups     []string // rows: embeddings, layer L attention, ...
	Iterations []string // columns: checkpoint iterations
	// Share[g][c] is group g's share of the inner-product mass (mean |K^b_ij|
	// over the sum of the groups) at checkpoint c; NetShare[g][c] its share
	// of the net predicted influence on bad actions (signed). NaN is drawn
	// dark grey.
	Share, NetShare [][]float64
}

// Tensors draws where gradient coupling lives: for each run a column of two
// heatmaps of tensor group x checkpoint, the share of the gradient
// inner-product mass each group carries (top) and its share of the net
// predicted influence of good updates on bad actions, eta A_i K^b_ij over
// the harmful-coupling pairs (bottom; negative where the group pushes the
// bad actions down on balance). Shares of the groups add to 1 in each
// column; all panels share one diverging colour scale centred at 0. A panel
// whose matrices do not match its labels panics.
func Tensors(panels []TensorPanel) *Figure {
	var maps []Heatmap
	var top, bottom []*plot.Plot
	for _, p := range panels {
		share := Heatmap{Title: p.Run + ": share of |K| mass", XLabel: iterLabel, YLabel: "tensor group",
			Rows: p.Groups, Cols: p.Iterations, Values: p.Share}
		net := Heatmap{Title: p.Run + ": share of net Δ on bad", XLabel: iterLabel, YLabel: "tensor group",
			Rows: p.Groups, Cols: p.Iterations, Values: p.NetShare}
		share.check()
		net.check()
		maps = append(maps, share, net)
	}
	m := HeatmapScale(maps...)
	for i := range panels {
		top = append(top, heatPanel(maps[2*i], m, i == 0))
		bottom = append(bottom, heatPanel(maps[2*i+1], m, i == 0))
	}
	if len(panels) == 0 {
		top = append(top, heatPanel(Heatmap{Title: "no tensor groups", XLabel: iterLabel, YLabel: "tensor group"}, 1, true))
	}
	bar := newPlot("", "", "share")
	bar.HideX()
	bar.Add(colourBar{cm: diverging(m), n: 64})
	rows := [][]*plot.Plot{top}
	if len(bottom) > 0 {
		rows = append(rows, bottom)
	}
	l := layout{panels: rows, colorBar: bar}
	return l.figure("Where coupling lives: the gradient Gram by parameter tensor group", fullWidth, 6.4*vg.Inch)
}
