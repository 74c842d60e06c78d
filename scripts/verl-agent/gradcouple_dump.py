"""Make verl-agent's rollout dump carry what gradcouple needs.

verl-agent writes trainer.rollout_data_dir/{step}.jsonl with only input, output,
score and step, one line per environment step, after the batch has been padded
with copies and reordered. Trajectories, groups and turns cannot be recovered
from that. This module adds the batch's own fields to each line:

    uid, traj_uid          the GRPO group and the trajectory
    turn                   the step index within the trajectory (added by mark_turns)
    anchor_obs             the environment's observation without history
    is_action_valid        the projection's verdict
    rewards                the step reward
    episode_rewards        the trajectory's return (its GRPO outcome)
    episode_lengths        the trajectory's length
    advantages             the advantage the update used (first response token)
    prompt_ids             the prompt's token ids, left padding removed
    action_ids             the response's token ids, right padding removed

The token ids are what the model saw and produced, special tokens included
(the text fields are decoded with skip_special_tokens=True, which drops the
chat template's markers); gradcouple scores them exactly, in preference to
the text. They come from the batch's prompts and responses tensors with
attention_mask, which marks the real tokens of both: verl left-pads prompts
and right-pads responses, and its pad id may equal a real token's (Qwen pads
with <|endoftext|>), so the mask, not the id, says what padding is. The
response keeps its end-of-sequence token, which the mask covers.

Two edits to verl/trainer/ppo/ray_trainer.py (RayPPOTrainer.fit), both marked
in scripts/verl-agent/README.md:

    import gradcouple_dump                       # with this file on PYTHONPATH
    ...
    batch = gen_batch_output
    gradcouple_dump.mark_turns(batch)            # before adjust_batch / _balance_batch
    ...
    if rollout_data_dir:
        ...
        gradcouple_dump.dump(self, batch, inputs, outputs, scores, rollout_data_dir)
        # instead of self._dump_generations(...)

Then `gradcouple convert --format verl-agent ROLLOUT_DATA_DIR --out run.parquet`.
Uses only numpy, which verl-agent already imports.
"""

import json
import os

import numpy as np

FIELDS = ("uid", "traj_uid", "turn", "anchor_obs", "is_action_valid", "rewards",
          "episode_rewards", "episode_lengths", "won")  # "won" where an env manager sets it


def mark_turns(batch):
    """Add non_tensor_batch['turn']: the step index of each sample in its trajectory.

    gather_rollout_data lists each trajectory's active steps in order, so the
    turn is the running count of the sample's traj_uid. Call it on the batch the
    trajectory collector returned, before adjust_batch and _balance_batch change
    the order.
    """
    seen = {}
    turns = np.empty(len(batch), dtype=object)
    for i, t in enumerate(batch.non_tensor_batch["traj_uid"]):
        turns[i] = seen.get(t, 0)
        seen[t] = turns[i] + 1
    batch.non_tensor_batch["turn"] = turns


def _plain(v):
    """A JSON value from a numpy scalar, array of one, or string."""
    if isinstance(v, np.ndarray):
        v = v.item() if v.size == 1 else v.tolist()
    if isinstance(v, np.generic):
        v = v.item()
    return v


def _numpy(t):
    """A numpy array from a torch tensor or anything array-like."""
    if hasattr(t, "detach"):
        t = t.detach().cpu()
    return t.numpy() if hasattr(t, "numpy") else np.asarray(t)


def token_ids(batch):
    """The (prompt_ids, action_ids) of each sample, lists of ints without
    padding, or None when the batch lacks prompts, responses or attention_mask.

    verl's batch holds prompts (B, P), left-padded, responses (B, R),
    right-padded, and attention_mask (B, P + R) over input_ids = prompts ++
    responses, 1 on real tokens (the response's up to and including its
    end-of-sequence token). response_mask is the loss mask, which in
    multi-turn rollouts also hides tool and observation tokens, so it is not
    used to find the padding.
    """
    b = batch.batch
    keys = set(b.keys())
    if not {"prompts", "responses", "attention_mask"} <= keys:
        return None
    prompts, responses = _numpy(b["prompts"]), _numpy(b["responses"])
    mask = _numpy(b["attention_mask"]).astype(bool)
    p, r = prompts.shape[-1], responses.shape[-1]
    if mask.shape[-1] != p + r or len(prompts) != len(responses) or len(mask) != len(prompts):
        raise ValueError(f"gradcouple_dump: attention_mask {mask.shape} does not cover "
                         f"prompts {prompts.shape} and responses {responses.shape}")
    out = []
    for i in range(len(prompts)):
        out.append(([int(x) for x in prompts[i][mask[i, :p]]],
                    [int(x) for x in responses[i][mask[i, p:]]]))
    return out


def dump(trainer, batch, inputs, outputs, scores, dump_path):
    """Write {global_steps}.jsonl as _dump_generations does, plus FIELDS,
    advantages and the token ids (prompt_ids, action_ids)."""
    os.makedirs(dump_path, exist_ok=True)
    filename = os.path.join(dump_path, f"{trainer.global_steps}.jsonl")
    nt = batch.non_tensor_batch
    adv = None
    if "advantages" in batch.batch.keys():
        # GRPO broadcasts one value over the response tokens; take the first.
        adv = batch.batch["advantages"][:, 0]
        adv = adv.float().cpu().numpy() if hasattr(adv, "cpu") else np.asarray(adv, np.float32)
    ids = token_ids(batch)
    with open(filename, "w") as f:
        for i in range(len(inputs)):
            entry = {"input": inputs[i], "output": outputs[i], "score": scores[i],
                     "step": trainer.global_steps}
            for k in FIELDS:
                if k in nt:
                    entry[k] = _plain(nt[k][i])
            if adv is not None:
                entry["advantages"] = float(adv[i])
            # A sample without real prompt or response tokens gets no ids:
            # gradcouple takes both or neither.
            if ids is not None and ids[i][0] and ids[i][1]:
                entry["prompt_ids"], entry["action_ids"] = ids[i]
            f.write(json.dumps(entry, ensure_ascii=False) + "\n")
    print(f"Dumped generations to {filename}")
