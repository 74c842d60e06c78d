// Package figure turns result values into paper-style figures with
// gonum/plot, written as SVG, PNG or PDF, and bundles figures and tables into
// one self-contained HTML report (DESIGN.md §2: analyses -> tables and figures
// -> report).
//
// Every figure shares one style: Liberation Sans text (embedded in gonum/plot,
// metric-compatible with Arial), labelled axes, a shared legend above the
// panels, the Okabe-Ito colour-blind-safe palette with fixed colours for the
// judge labels and trajectory outcomes, translucent confidence bands, and
// faint raw data behind smoothed curves.
//
// The constructors are named for the figures of the study:
//
//	Consistency       high-consistency actions over training, by judge label (paper Figs. 1, 5)
//	Repetition        repeated actions in successful vs failed trajectories (Fig. 2)
//	Coupling          coupling heatmap, predicted and measured (Fig. 3b)
//	Squeeze           the squeezing simulator (Theorem 3.2, Fig. 4)
//	Lemma             Lemma 3.1, predicted vs empirical advantage mass
//	LearningCurves    in-domain and out-of-domain success over seeds
//	CouplingDynamics  harmful-coupling rate and cross-group cosine over training
//	Separation        representation separation over training
//	FinalPerformance  IQM with stratified bootstrap intervals, probability of improvement
//	Tensors           where coupling lives: the Gram by parameter tensor group x checkpoint
//
// Their inputs are figure's own small types (Series, Group, Panel, Heatmap,
// SqueezePanel, LemmaPoint, LemmaCurve, ScorePanel, Improvement), filled by
// package analysis from its result rows; figure does not import analysis.
//
// Report writes one HTML file with no external resources: inline SVG figures
// (checked against an allow-list of SVG elements and attributes and
// re-serialised), inline CSS, no scripts, and a Content-Security-Policy that
// forbids scripts and network access. Every string from logs is escaped.
package figure
