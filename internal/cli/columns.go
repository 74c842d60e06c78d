package cli

// Glossaries of the table columns, appended to the commands' descriptions so
// that `gradcouple CMD --help` explains every symbol its table shows
// (helptext_test.go checks each column of the row types is named). They are
// kept here, by command path, and appended by setConventions.

// columnHelp returns the glossary of the command at path ("advantage").
func columnHelp(path string) string {
	switch path {
	case "advantage":
		return advantageColumns
	case "inspect":
		return inspectColumns
	case "repetition":
		return repetitionColumns
	case "consistency":
		return consistencyColumns
	case "coupling":
		return couplingColumns
	case "compare":
		return compareColumns
	}
	return ""
}

// dashNote says what "-" and the interval columns mean in every table.
const dashNote = "In the text table - is a value that is not defined (NaN: nothing to average over, or one\n" +
	"side of a comparison empty); --out and --json write it as an empty CSV cell, JSON null or\n" +
	"parquet NaN. A column X_lo, X_hi (or ci_lo, ci_hi) is the 95% interval of X."

const advantageColumns = "\n\nColumns (one row per run, iteration, state and action):\n" +
	"  run, iteration         the run and the iteration whose policy collected the rollouts (-1: pooled)\n" +
	"  state_key, action      the recurring state and one action taken there\n" +
	"  visits                 visits to the state; action_visits (files only) those that took the action\n" +
	"  q                      share of the state's visits that took the action\n" +
	"  r                      success rate of trajectories that visited the state without taking the\n" +
	"                         action minus that of those that took it; r > 0: the action lowers success.\n" +
	"                         - when every trajectory at the state took the action (no comparison)\n" +
	"  mass                   logged advantage mass: mean over the state's visits of 1{action} x advantage\n" +
	"  prediction             Lemma 3.1's q r (q-1), from the estimated q and r (- when r is)\n" +
	"  q_lo .. mass_hi        percentile bootstrap intervals over rollout groups (or trajectories when\n" +
	"                         fewer than 20 groups visited the state: resampling column in files)\n" +
	dashNote

const inspectColumns = "\n\nColumns (one row per run, iteration and split):\n" +
	"  groups, trajectories, steps   rollout groups, trajectories and step records\n" +
	"  success_rate                  share of trajectories with success; success_rate_lo, _hi: its 95%\n" +
	"                                interval, a bootstrap over whole groups (seed recorded in files)\n" +
	"  mean_group_size               trajectories per group\n" +
	"  zero_std_frac                 share of groups of two or more trajectories whose outcomes are all\n" +
	"                                equal (zero advantage everywhere: no learning signal); - when every\n" +
	"                                group has one trajectory\n" +
	"  invalid_rate                  share of steps with valid = false\n" +
	"  labelled_frac                 share of steps with a judge label (label 0 or 1)\n" +
	"  bad_label_frac                share of the labelled steps labelled bad; - when none is labelled\n" +
	"  advantage_fit                 the GRPO convention that reproduces every group's logged advantages\n" +
	"  adv_mismatch_trajs            trajectories in groups whose advantages no convention reproduces\n" +
	"  recurring_states              states (state_key) that occur at least --k times in the iteration\n" +
	"                                (what log-based consistency and the advantage check need)\n" +
	"  max_state_visits              occurrences of the most frequent state\n" +
	dashNote

const repetitionColumns = "\n\nColumns (one row per run, split and iteration):\n" +
	"  trajectories, steps           trajectories and steps read\n" +
	"  repeat_rate                   share of steps whose action equals an earlier action of the trajectory\n" +
	"  loop_rate                     share of steps that repeat an action in the same state (state_key)\n" +
	"  success_trajs, failure_trajs  trajectories that succeeded or failed\n" +
	"  success_repeat_rate           repeat_rate over the steps of successful trajectories\n" +
	"  failure_repeat_rate           repeat_rate over the steps of failed trajectories (- when none)\n" +
	"  Files add the counts, loop rates and *_repeating_traj_frac (share of trajectories with a repeat).\n" +
	dashNote

const consistencyColumns = "\n\nColumns (one row per run, split and iteration):\n" +
	"  states               distinct states (state_key) seen\n" +
	"  eligible_states      states that occur at least k times (the only ones measured)\n" +
	"  mean_consistency     mean over eligible states of the expected count of the most frequent action\n" +
	"                       among k occurrences drawn without replacement (1 to k)\n" +
	"  high                 share of eligible states whose k-draw has that count >= threshold\n" +
	"  high_good, high_bad, high_unknown   the same share split by the judge label of the modal action;\n" +
	"                       the three sum to high\n" +
	"  k, threshold         the protocol: k samples per state, high when the modal count >= threshold\n" +
	dashNote + " Intervals: Wilson score over the eligible states."

const couplingColumns = "\n\nColumns (one row per run and checkpoint iteration):\n" +
	"  n, dim                      probes and gradient length\n" +
	"  cos_good, cos_bad           mean gradient cosine within good and within bad probes\n" +
	"  cos_good_bad                mean cosine across good x bad probes (coupling)\n" +
	"  harmful_rate                share of pairs (i good with A_i > 0, j bad in another state) with\n" +
	"                              predicted Delta_ij = eta A_i K_ij > 0\n" +
	"  harmful_mass                mean over those pairs of max(Delta_ij, 0)\n" +
	"  pair_cos_jaccard            mean gradient cosine of similar-state pairs (prompt Jaccard)\n" +
	"  probe_acc_state, probe_acc_verdict   cross-validated linear-probe accuracy of good vs bad on\n" +
	"                              hidden states at the last prompt token and at the verdict marker\n" +
	"  heat_pearson, heat_rel_err  agreement of predicted and measured Delta (Pearson, relative L2 error)\n" +
	"  seconds                     time taken\n" +
	dashNote

const compareColumns = "\n\nColumns: group (--a-name, --b-name), metric, runs (runs with a value), iteration; mean\n" +
	"and ci_lo, ci_hi (95% bootstrap interval over runs); iqm (interquartile mean of the runs' final\n" +
	"values); p_x_gt_y: probability of improvement, that a run of group x beats a run of group y, over\n" +
	"envs environments with runs_x and runs_y runs; seed of the bootstrap.\n" +
	dashNote
