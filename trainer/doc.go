// Package trainer trains the bundled actor (package policy) on the bundled
// environments (package env) with GRPO and with GRPO + GCD, and writes
// every step and every checkpoint to a run directory that the analyses
// read (DESIGN.md §3.2, §4).
//
// # Algorithm
//
// Cold start: supervised warm-up on oracle demonstrations (env.Demonstration
// of train seeds 0..Demos-1): Adam on the token-mean negative
// log-likelihood of the demonstrated actions; for GCD also VerdictWeight
// times the verdict cross-entropy of each demonstrated action ("good") and
// one non-optimal admissible action of the same state ("bad"), with the
// judge's labels, and, with correction on, the demonstrated action after a
// correction line naming that bad action (a word-level actor trained from
// scratch has no idea what a correction line asks of it otherwise; without
// these samples correction made rollouts worse). The cold-start policy is
// checkpoint 0 and the frozen reference of the KL term.
//
// Iteration i (policy pi_i, after i updates): draw B train tasks from the
// pool and play G rollouts of each, token by token at the rollout
// temperature, either restricted to the admissible actions or free
// (Rollout.Unconstrained; inadmissible text is an invalid step).
//
// The policy being optimised is the distribution actions are drawn from.
// With constrained decoding that is pi renormalised at each position over
// the tokens that continue an admissible action (policy.Seq.Allowed), and
// the update uses those log-probabilities (pi_old from the rollout, pi and
// pi_ref recomputed with the same allowed sets). Using the full-vocabulary
// log pi instead would add A * grad log pi(allowed tokens) to every token's
// gradient: negative advantages, which dominate a token-mean over long
// failed trajectories, then push mass onto tokens decoding never emits,
// and the constrained policy degrades (measured: eval-in success 0.52 ->
// 0.24 in 30 iterations). Tokens that are the only allowed continuation
// have probability 1 under the constrained policy; they carry no decision
// and are left out of the loss and its token count. The step records'
// logprob stays the model's full-vocabulary log pi(action | prompt), what
// policy.LogProbs and a PyTorch port compute from the record alone.
//
// The outcome
// of a trajectory is success minus InvalidPenalty per invalid step; the
// GRPO advantage of a group (metrics.GroupAdvantages: std-normalised, or
// Dr. GRPO with NoStd) is the advantage of every step of the trajectory,
// and every step is a sample. The update runs Epochs passes over the
// samples, shuffled, in MiniBatches Adam steps each (global gradient-norm
// clipping), on
//
//	L = -1/T sum_{n,t} min(rho A_n, clip(rho, 1-eps, 1+eps) A_n)
//	    + beta/T sum_{n,t} k3_{n,t} + lambda/N sum_n CE_n
//
// (token-mean over the T decision tokens, action tokens and <eos>s, of a
// mini-batch; rho = pi/pi_old per token; k3 = exp(r) - r - 1,
// r = log pi_ref - log pi, a sampled estimate of KL(pi || pi_ref) since
// tokens are drawn from pi at temperature 1;
// CE_n the verdict cross-entropy with the judge's label, GCD only); the
// exact gradient comes from policy.Model.Gradient with per-token weights
// dL/d log pi. After every step the parameters are rounded to float32, so
// a checkpoint holds exactly the trained model.
//
// GCD's prompt-based correction: in training rollouts, after drawing an
// action, the actor's own verdict on it is read from the same key-value
// cache (prompt ++ action ++ <eos> ++ <verdict>); if p(bad) > Threshold, or
// (when Repeats > 0; off by default) the trajectory already took the action
// Repeats times, the line
// "Warning: ACTION is likely a wrong action here, choose another one." is
// inserted before "Your action:" and the action is drawn again from the
// longer prompt, at most MaxTries times. The step's record holds the final
// prompt and action and corrected = true. By default a corrected step
// trains only the verdict, not the policy (GCD.TrainCorrected), so the
// policy learns from prompts like those of evaluation; evaluation runs
// without correction unless GCD.CorrectEval.
//
// Evaluation (every Eval.Every iterations and at the end): eval-in and
// eval-out seeds 0..Tasks-1, played once greedily and once sampled, without
// correction; success per split, mode and task family.
//
// # Run directory
//
//	run.json                   Manifest: format, version, run, env, algo, seed, the full Config,
//	                           started, finished, resumed
//	metrics.jsonl              one Metrics line per iteration, 0..Iterations (the commit log)
//	timing.jsonl               one Timing line per iteration (wall-clock seconds)
//	logs/iter-NNNNNN.parquet   the step records (trajlog.Record) of iteration N: train rows
//	                           (collected by pi_N) then eval rows (pi_N)
//	checkpoints/iter-NNNNNN/   pi_N and the Adam state after N updates (F64), every
//	                           CheckpointEvery iterations, and 0 and the last
//
// Iteration Iterations only evaluates (its log has eval rows only) and its
// checkpoint is the final policy. Step records: logprob is log pi_N(action
// | prompt) summed over the action's tokens and <eos> (the behaviour
// policy's, pi_old of the update); label and label_votes are the judge's;
// advantage is the GRPO advantage (0 for eval rows); group_id is
// "iNNNNNN:TASK" for train groups and "iNNNNNN:greedy|sampled:TASK" for
// eval, traj_id the group plus ":j"; state_key is env's.
//
// # Commit protocol and resume
//
// Every file is written to a temporary name and renamed into place
// (internal/atomicfile, checkpoint.Save, trajlog.WriteFile). Iteration i
// writes, in order: checkpoints/iter-i (when due), logs/iter-i.parquet, a
// timing line, and last its metrics line, appended and synced. The metrics
// line commits the iteration: iterations 0..L are committed when
// metrics.jsonl has L+1 complete lines.
//
// Every random draw comes from a PCG stream seeded from (seed, iteration,
// purpose, index) (see stream): task choice, each rollout's sampling and
// judge noise, each epoch's shuffle, each evaluation rollout. Rollouts run
// in parallel, one stream each, and are assembled in a fixed order;
// gradients are summed in a fixed order (policy.Model.Gradient). So
// iteration i is a function of (pi_i, Adam state, seed, configuration), no
// generator state needs saving, and results do not depend on GOMAXPROCS.
//
// Resume finds the last committed iteration L and the latest checkpoint c <=
// L+1 (a checkpoint is complete once its directory exists under its final
// name). It deletes hidden temporaries, logs of iterations >= c and
// checkpoints after c, truncates metrics.jsonl and timing.jsonl to
// iterations < c, loads pi_c, its Adam state and the reference pi_0, and
// runs iterations c, c+1, ... again. They reproduce the same bytes, so the
// finished directory equals an uninterrupted run's, except for run.json's
// started, finished and resumed fields and timing.jsonl, which hold
// wall-clock facts. A run interrupted before checkpoint 0 starts over.
// With CheckpointEvery n, an interruption costs at most n iterations.
//
// The trainer never imports analysis, coupling or figure (DESIGN.md §2).
package trainer
