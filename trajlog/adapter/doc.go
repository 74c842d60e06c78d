// Package adapter reads other trainers' rollout logs into gradcouple step
// records (trajlog.Record, DESIGN.md §3.1), deriving what those logs lack, so
// that every analysis runs on runs made elsewhere.
//
// Detect tells the formats apart and Read reads a file or a whole directory
// into memory; Scan and Log.Emit do the same in two streaming passes (the
// first collects per-group outcomes keyed by a hash, the second hands out
// finished records in batches), so that memory does not grow with the log's
// text. ReadVerl, ReadTRL and ReadRLLM read one file from an io.Reader. Bad
// input never panics: it gives a *trajlog.ValidationError naming the file, the
// line or row, and the field. Text that is not valid UTF-8 (raw bytes, or a
// lone surrogate escape in Python's JSON) is refused, never repaired. A UTF-8
// byte order mark at the start of a JSON file is skipped.
//
// # verl rollout dumps
//
// With trainer.rollout_data_dir set, verl's RayPPOTrainer._log_rollout_data
// decodes prompts and responses (skip_special_tokens=True), sums
// token_level_scores per sample and calls _dump_generations, which writes
// {rollout_data_dir}/{global_steps}.jsonl with json.dumps(entry,
// ensure_ascii=False), one line per sample: input, output, score, step, in
// newer releases gts (the reward model's ground truth), plus every
// reward_extra_infos key whose list has one entry per sample (e.g. acc, pred).
// Source: volcengine/verl, verl/trainer/ppo/ray_trainer.py, _dump_generations
// and _log_rollout_data.
// verl does not dump the GRPO group (non_tensor_batch["uid"]) or the
// advantages; some forks add a uid key, which is used when present.
//
//	prompt      = input              action  = output
//	step_reward = outcome = score    iteration = step (else the file name)
//	turn = 0 (single-turn)           traj_id = "<file>:<line>" (derived)
//	group_id    = uid when present, else derived from identical prompts
//	split       = train (Options.Split for validation_data_dir dumps)
//
// A verl dump whose lines look like the environment steps of multi-turn
// trajectories is refused with a *MultiTurnError (unless Options.SingleTurn):
// when at least a fifth of the prompts carry a step counter or a history
// ("You are now at step k", "Prior to this step", "[Observation k: ...]"), or
// when most groups derived from identical prompts are single lines while some
// lines are exact copies of others. Read as single-turn, every line would be a
// one-step trajectory with a made-up group.
//
// # verl-agent rollout dumps
//
// verl-agent (langfengQ/verl-agent, the framework GiGPO and the GCD paper's
// code build on) dumps rollouts with the same _dump_generations as verl, but
// its multi-turn loop (agent_system/multi_turn_rollout/rollout_loop.py) makes
// one sample per environment step, adjust_batch(mode="copy") appends copies of
// random samples, and _balance_batch reorders the batch, so a stock dump
// ({step}.jsonl with input, output, score, step) holds scattered steps of
// trajectories it does not name. The batch's non-tensor fields say what is
// needed; scripts/verl-agent/gradcouple_dump.py writes them into the dump
// (mark_turns numbers the steps before the batch is reordered). A dump whose
// lines carry traj_uid is read as FormatVerlAgent:
//
//	traj_id   = traj_uid                  turn = turn (required)
//	group_id  = "step-<n>/<uid>"          iteration = step (else the file name)
//	prompt    = input
//	action    = the text between <action> and </action>, lower-cased and
//	            trimmed, as verl-agent's ALFWorld projection gives it to the
//	            environment; without both tags the action is invalid and is
//	            the response's last 30 characters (what the environment got);
//	            Options.RawAction keeps the whole response
//	valid     = is_action_valid, else whether the response had the tags
//	outcome   = episode_rewards (required); step_reward = rewards
//	success   = won where present, else outcome > Options.SuccessThreshold
//	advantage = advantages where dumped; else recomputed (Options.GroupAdvantage):
//	            AdvantageTrajectory (default) over the group's distinct
//	            trajectories' outcomes (DESIGN.md §4), or AdvantageCrossStep,
//	            verl-agent's compute_grpo_outcome_advantage with
//	            compute_mean_std_cross_steps=True: mean and sample std over the
//	            scores of every line of the group, copies included (a score is
//	            the episode reward minus the invalid-action penalty of that
//	            step). GiGPO's step-level part is not recomputed (ErrGiGPO).
//	state_key = StateKey("task: " + task + "\x00anchor: " + anchor_obs), task
//	            being the prompt's "Your task is to: ..." line; without
//	            anchor_obs, StateKey("prompt: " + StripHistory(input))
//	task_id   = the task
//	prompt_ids, action_ids = prompt_ids, action_ids where dumped (the
//	            batch's prompt and response token ids without padding,
//	            special tokens included; both or neither)
//
// A line with the same traj_uid and turn as an earlier one is dropped when it
// is an exact copy (same input, output, score and token ids) and counted
// (Log.Copies); a different line claiming the same step is an error. Sources:
// verl/trainer/ppo/ray_trainer.py (fit, _dump_generations,
// apply_invalid_action_penalty), verl/trainer/ppo/core_algos.py
// (compute_grpo_outcome_advantage), agent_system/multi_turn_rollout/
// (rollout_loop.py, utils.py adjust_batch), agent_system/environments/
// (env_manager.py, prompts/alfworld.py, env_package/alfworld/projection.py).
//
// # TRL GRPO completion tables
//
// With log_completions=True, TRL's GRPOTrainer.log builds one table per logging
// step from its completion buffer, {"step", "prompt", "completion",
// **rewards, **extra, "advantage"}, and recent releases save it with pandas as
// {output_dir}/completions/completions_{global_step:05d}.parquet (some versions
// and wrappers add a "mode" column and write to completions/{mode}/). There is
// one column per reward function, named after the function (reward_func_names);
// prompt is the prompt after the chat template (maybe_apply_chat_template);
// releases that only logged to wandb wrote the step as a string. The TRL
// dataset card for these logs lists the same columns (step, prompt, completion,
// <reward_function_name>, advantage). Source: huggingface/trl,
// trl/trainer/grpo_trainer.py, GRPOTrainer.log and
// _generate_and_score_completions (rewards = nansum over reward functions of
// rewards_per_func * reward_weights; advantages = (R - mean) / (std + 1e-4)
// per group of num_generations consecutive rows).
//
//	prompt  = prompt        action = completion
//	outcome = step_reward = sum of the reward columns (see Options.RewardColumns;
//	          by default every float, double or fractional DECIMAL column)
//	advantage = the advantage column when present, else recomputed
//	iteration = step (int or string; else the file name)
//	split = eval-in for mode "eval" or a completions/eval directory, else train
//	group_id = derived from identical prompts; traj_id = "<file>:<row>" (derived)
//
// TRL's reward is nansum(rewards_per_func * reward_weights): a reward function
// that returned None is logged as NaN and left out, as here. reward_weights are
// not in the table, so the outcome is the unweighted sum (TRL's default weights
// are all 1); the logged advantage, which TRL computed from the weighted sum, is
// kept as is. A row whose every reward column is NaN has no outcome and is an
// error. Numbers are read by their parquet logical type (package pqnum): a
// table re-written by DuckDB or Spark with DECIMAL(p,s) columns is read with
// the scale, not as the stored integer.
//
// # rLLM episode logs
//
// rLLM's EpisodeLogger (rllm/utils/episode_logger.py, rllm-org/rllm) writes one
// JSON file per Episode to
// {episode_log_dir}/episodes/{mode}_step_{step}_epoch_{epoch}/episode_hash{task_hash}_id{episode_id}.json,
// mode being train or val, with training_step, epoch, episode_id, task,
// task_hash, is_correct, termination_reason, metrics and trajectories; each
// trajectory has name, uid, reward (None when the workflow set none) and
// steps; each step observation, thought, action, reward, done, model_response
// and chat_completions. Newer rLLM dumps the Episode model itself (id,
// training_epoch, steps with info and, in Step.to_dict, logprobs and
// advantage); both are read. The classes are Episode, Trajectory and Step in
// rllm/agents/agent.py: an Episode id is "{task_id}:{rollout_idx}", and rLLM
// forms advantage groups from the trajectories of one task_id and trajectory
// name (TrajectoryGroup, "task1:agent_0").
//
//	one record per step; turn = index in the trajectory; iteration = training_step
//	prompt  = chat_completions up to (not including) the final assistant
//	          message, the response of this step, rendered "role: content"
//	          per message and joined by blank lines (the tokenizer's chat
//	          template is not applied); without chat_completions, the observation
//	action  = the parsed action (an Action repr "Action(action='x')" or the
//	          str of the pydantic model "action='x'" is unwrapped to x;
//	          non-string actions as JSON), else model_response
//	step_reward = step reward; outcome = trajectory reward, else the sum of
//	          step rewards (rLLM's Workflow.compute_trajectory_reward default)
//	success = is_correct; task_id = the episode id before ':' (else
//	          "hash-"+task_hash); traj_id = trajectory uid
//	group_id = "step-<n>/<task_id>:<trajectory name>", else derived from
//	          identical first prompts; logprob = sum of step logprobs if logged
//	split   = eval-in for a val_step_* directory, else train
//	prompt_ids, action_ids = the step's prompt_ids and response_ids where
//	          logged (Step.to_dict; EpisodeLogger writes neither), else
//	          model_output's prompt_ids and completion_ids; none when empty
//
// Token ids (trajlog.Record.PromptIDs, ActionIDs) are carried where a log has
// them (verl-agent dumps through gradcouple_dump.py, rLLM Step.to_dict); they
// are never derived. An id array must hold integers in [0, 2^31-1], at most
// trajlog.MaxTokenIDs of them, and a step has both arrays or neither: anything
// else is an error naming the file, line and field. verl's rollout dumps and
// TRL's completion tables hold text only.
//
// # Derivation rules
//
// What a log lacks is derived the same way for every format, and Result.Derived
// lists the fields concerned:
//
//   - group_id: trajectories whose first prompt is identical at the same
//     iteration and split form a group, "step-<n>/g-<k>" with k the index of
//     the group's first appearance in that iteration ("eval-in/step-<n>/g-<k>"
//     for evaluation rows). Identical prompts that verl or TRL drew from two
//     different dataset rows are merged into one group.
//   - advantage: a group where any step lacks a logged advantage is recomputed
//     with metrics.GroupAdvantages (Options.Advantage) over its trajectories'
//     outcomes, every step of a trajectory getting its trajectory's value. A
//     group derived from identical prompts that holds one trajectory gets 0,
//     not verl's R/(1+eps) for a group of one: it is a group the log did not
//     say, and its reward is no advantage (Log.ZeroedSingletons counts them).
//     Evaluation rows get 0, as in the schema.
//   - success: where the log has none, outcome > Options.SuccessThreshold.
//   - label = -1 (unknown) and label_votes = 0: no judge ran.
//   - valid = true: these logs do not say whether an action was admissible
//     (verl-agent's do, or tell it by the <action> tag).
//   - logprob = 0 where not logged: the schema has no NaN, so 0 stands for
//     "unknown" and "logprob" is listed as derived.
//   - state_key = StateKey(prompt), the first 16 hex digits of SHA-256 of the
//     prompt: the same prompt text has the same key in every trajectory.
//   - traj_id from file and line or row; split where the log does not say.
//
// env and task_type are left empty; corrected is false (these trainers apply no
// prompt correction).
package adapter
