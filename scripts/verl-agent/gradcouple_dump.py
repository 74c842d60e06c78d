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


def dump(trainer, batch, inputs, outputs, scores, dump_path):
    """Write {global_steps}.jsonl as _dump_generations does, plus FIELDS and advantages."""
    os.makedirs(dump_path, exist_ok=True)
    filename = os.path.join(dump_path, f"{trainer.global_steps}.jsonl")
    nt = batch.non_tensor_batch
    adv = None
    if "advantages" in batch.batch.keys():
        # GRPO broadcasts one value over the response tokens; take the first.
        adv = batch.batch["advantages"][:, 0]
        adv = adv.float().cpu().numpy() if hasattr(adv, "cpu") else np.asarray(adv, np.float32)
    with open(filename, "w") as f:
        for i in range(len(inputs)):
            entry = {"input": inputs[i], "output": outputs[i], "score": scores[i],
                     "step": trainer.global_steps}
            for k in FIELDS:
                if k in nt:
                    entry[k] = _plain(nt[k][i])
            if adv is not None:
                entry["advantages"] = float(adv[i])
            f.write(json.dumps(entry, ensure_ascii=False) + "\n")
    print(f"Dumped generations to {filename}")
