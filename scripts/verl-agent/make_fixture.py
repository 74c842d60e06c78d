#!/usr/bin/env python3
"""Writes rollout dumps the way verl-agent writes them, for gradcouple's tests.

verl-agent (langfengQ/verl-agent) dumps rollouts with verl's
RayPPOTrainer._dump_generations: trainer.rollout_data_dir/{global_step}.jsonl,
one JSON object per line with exactly input, output, score and step (plus any
reward_extra_info of the batch's length), written with
json.dumps(ensure_ascii=False). In verl-agent a line is one *environment step*,
and the batch it dumps has been through

  * the multi-turn loop (agent_system/multi_turn_rollout/rollout_loop.py): the
    G environments of a group share a `uid`, each has a `traj_uid`; only steps
    while the episode was active are kept (gather_rollout_data);
  * adjust_batch(mode="copy"): random samples duplicated and appended until the
    batch size divides the micro-batch size;
  * _balance_batch: the batch reordered across data-parallel ranks;
  * the EpisodeRewardManager: score = episode reward, minus
    invalid_action_penalty_coef (0.1) for an invalid step;
  * tokenizer.batch_decode(..., skip_special_tokens=True) of the chat-templated
    prompt (Qwen2.5: the special <|im_start|>/<|im_end|> tokens vanish, the role
    names stay) and of the response.

The prompt follows ALFWORLD_TEMPLATE_NO_HIS (first step) and ALFWORLD_TEMPLATE
(later steps, history_length 2, history lines from SimpleMemory.fetch); the
action is projected as alfworld_projection does (lower-cased text between
<action> and </action>; no tag, or no <think> block, is invalid and the env
receives the last 30 characters).

This script re-implements those steps from reading verl-agent's source; it
copies no code. It writes, under OUT (default testdata/adapters/verl-agent):

  stock/{1,2}.jsonl     the dump as verl-agent writes it today
  patched/{1,2}.jsonl   the same batches written by scripts/verl-agent/gradcouple_dump.py
                        (mark_turns on the gathered batch, dump on the reordered one):
                        uid, traj_uid, turn, anchor_obs, is_action_valid, rewards,
                        episode_rewards, episode_lengths, and prompt_ids and action_ids
                        taken from padded prompts/responses/attention_mask tensors
  patched-advantages/   the same with the advantages the update used (verl-agent's
                        cross-step GRPO, float32), dumped from a batch without the
                        token tensors: lines without ids, as an older hook wrote them
  truth.json            the trajectories, advantages under both conventions, and the
                        length and CRC-32 of each step's token ids, computed here
                        independently of gradcouple

The token ids come from a toy tokenizer (toy_tokenize: Qwen2.5's ids for
<|im_start|>, <|im_end|> and "\n", one id per other run of up to four words)
applied to the prompt
with its chat-template markers, which the decoded input has lost, and to the
response followed by <|im_end|>, the end-of-sequence token verl keeps. The batch
pads them as verl does: prompts on the left, responses on the right, with
<|endoftext|>, the pad token of Qwen2.5, and attention_mask marking the real
tokens.

Deterministic: random.Random(SEED), uuids drawn from it. Needs numpy (Debian's
python3-numpy): /usr/bin/python3 scripts/verl-agent/make_fixture.py
"""

import json
import os
import random
import re
import sys
import uuid
import zlib

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gradcouple_dump  # noqa: E402

SEED = 7
GROUPS = 5
GROUP_SIZE = 4
MAX_STEPS = 8
HISTORY = 2
PENALTY = 0.1
STEPS = (1, 2)
DIVISOR = 32  # lcm of the micro-batch sizes times world size

TEMPLATE_NO_HIS = """
You are an expert agent operating in the ALFRED Embodied Environment.
Your current observation is: {current_observation}
Your admissible actions of the current situation are: [{admissible_actions}].

Now it's your turn to take an action.
You should first reason step-by-step about the current situation. This reasoning process MUST be enclosed within <think> </think> tags. 
Once you've finished your reasoning, you should choose an admissible action for current step and present it within <action> </action> tags.
"""

TEMPLATE = """
You are an expert agent operating in the ALFRED Embodied Environment. Your task is to: {task_description}
Prior to this step, you have already taken {step_count} step(s). Below are the most recent {history_length} observations and the corresponding actions you took: {action_history}
You are now at step {current_step} and your current observation is: {current_observation}
Your admissible actions of the current situation are: [{admissible_actions}].

Now it's your turn to take an action.
You should first reason step-by-step about the current situation. This reasoning process MUST be enclosed within <think> </think> tags. 
Once you've finished your reasoning, you should choose an admissible action for current step and present it within <action> </action> tags.
"""

SYSTEM = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."

# Qwen2.5's special tokens.
IM_START, IM_END, NEWLINE, PAD = 151644, 151645, 198, 151643

OBJECTS = ["apple", "mug", "potato", "egg", "tomato"]


class Task:
    """A five-step ALFWorld-like task: bring OBJ from countertop 1 to fridge 1."""

    def __init__(self, obj):
        self.obj = obj
        self.description = f"put some {obj} in fridge."
        self.plan = [
            "go to countertop 1",
            f"take {obj} 1 from countertop 1",
            "go to fridge 1",
            "open fridge 1",
            f"move {obj} 1 to fridge 1",
        ]

    def first_observation(self):
        return ("-= Welcome to TextWorld, ALFRED! =-\n\nYou are in the middle of a room. "
                "Looking quickly around you, you see a cabinet 1, a countertop 1, and a fridge 1.\n\n"
                f"Your task is to: {self.description}")

    def place(self, stage):
        return ["You are in the middle of a room. Looking quickly around you, you see a cabinet 1, "
                "a countertop 1, and a fridge 1.",
                f"You arrive at countertop 1. On the countertop 1, you see a {self.obj} 1, and a knife 1.",
                "You arrive at countertop 1. On the countertop 1, you see a knife 1.",
                "You arrive at fridge 1. The fridge 1 is closed.",
                "You open the fridge 1. The fridge 1 is open. In it, you see nothing."][stage]

    def admissible(self, stage):
        acts = [self.plan[stage], "look", "inventory", "go to cabinet 1", "help"]
        return sorted(set(acts))

    def step(self, stage, action):
        """Returns (observation, new stage, won)."""
        if action == self.plan[stage]:
            if stage == len(self.plan) - 1:
                return f"You move the {self.obj} 1 to the fridge 1.", stage, True
            stage += 1
            if stage == 2:
                return f"You pick up the {self.obj} 1 from the countertop 1.", stage, False
            return self.place(stage), stage, False
        if action == "look":
            return self.place(stage), stage, False
        if action == "inventory":
            return ("You are carrying: a %s 1." % self.obj if stage >= 2 else
                    "You are not carrying anything."), stage, False
        return "Nothing happens.", stage, False


def uuid4(rng):
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def project(output):
    """alfworld_projection: (action sent to the env, valid)."""
    low = output.lower()
    s, e = low.find("<action>"), low.find("</action>")
    if s == -1 or e == -1:
        return low[-30:], False
    action = low[s + len("<action>"):e].strip().lower()
    valid = output.find("<think>") != -1 and output.find("</think>") != -1
    return action, valid


def chat(content):
    # Qwen2.5 chat template with the default system prompt, decoded with
    # skip_special_tokens=True: the <|im_start|> and <|im_end|> markers are gone.
    return f"system\n{SYSTEM}\nuser\n{content}\nassistant\n"


def chat_special(content):
    # The same chat with its special tokens, as the model saw it.
    return (f"<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\n{content}<|im_end|>\n"
            "<|im_start|>assistant\n")


def toy_tokenize(text):
    """Token ids of text: the chat markers and newlines as Qwen2.5 has them, one
    id in [1000, 30000) (a CRC-32) per other run of up to four words, so that
    the fixture stays small."""
    ids = []
    for tok in re.findall(r"<\|im_start\|>|<\|im_end\|>|\n|[^\S\n]*[^\s<]+(?:[^\S\n]+[^\s<]+){0,3}", text):
        if tok == "<|im_start|>":
            ids.append(IM_START)
        elif tok == "<|im_end|>":
            ids.append(IM_END)
        elif tok == "\n":
            ids.append(NEWLINE)
        else:
            ids.append(1000 + zlib.crc32(tok.encode()) % 29000)
    return ids


def ids_crc(ids):
    """CRC-32 of the ids written as decimal, comma separated (for truth.json)."""
    return zlib.crc32(",".join(str(x) for x in ids).encode())


def prompt_for(task, obs, stage, memory):
    """The decoded prompt (input) and the prompt's token ids."""
    content = prompt_content(task, obs, stage, memory)
    return chat(content), toy_tokenize(chat_special(content))


def prompt_content(task, obs, stage, memory):
    adm = "\n ".join(f"'{a}'" for a in task.admissible(stage) if a != "help")
    if not memory:
        return TEMPLATE_NO_HIS.format(current_observation=obs, admissible_actions=adm)
    recent = memory[-HISTORY:]
    start = len(memory) - len(recent)
    hist = "\n".join(f"[Observation {start + j + 1}: '{o}', Action {start + j + 1}: '{a}']"
                     for j, (o, a) in enumerate(recent))
    return TEMPLATE.format(task_description=task.description, step_count=len(memory),
                           history_length=len(recent), action_history=hist,
                           current_step=len(memory) + 1, current_observation=obs,
                           admissible_actions=adm)


def policy_output(rng, task, stage, skill, invalid_rate):
    """A response: <think>...</think><action>...</action>, sometimes malformed."""
    if rng.random() < skill:
        act = task.plan[stage]
    else:
        act = rng.choice(["look", "inventory", "go to cabinet 1"])
    think = rng.choice(["I need to find the %s first." % task.obj,
                        "The task asks me to put the %s in the fridge." % task.obj,
                        "Let me check where I am."])
    if rng.random() < invalid_rate:
        # No <action> tag: the env receives the last 30 characters.
        return f"<think>{think}</think> I will {act} now."
    return f"<think>{think}</think>\n<action>{act}</action>"


def rollout_step(rng, step):
    """One training step of verl-agent: GROUPS x GROUP_SIZE environments."""
    skills = [1.0, 0.0, 0.6, 0.5, 0.75]  # group 0 always succeeds, group 1 never
    invalid = [0.0, 0.2, 0.1, 0.15, 0.1]
    samples, trajs = [], []
    for g in range(GROUPS):
        uid = uuid4(rng)
        task = Task(OBJECTS[(g + step) % len(OBJECTS)])
        for _ in range(GROUP_SIZE):
            traj_uid = uuid4(rng)
            obs, stage, memory, steps, won = task.first_observation(), 0, [], [], False
            for turn in range(MAX_STEPS):
                prompt, prompt_ids = prompt_for(task, obs, stage, memory)
                out = policy_output(rng, task, stage, skills[g], invalid[g])
                action, valid = project(out)
                nxt, stage2, won = task.step(stage, action)
                steps.append(dict(turn=turn, input=prompt, output=out, action=action, valid=valid,
                                  anchor_obs=obs, reward=10.0 if won else 0.0,
                                  prompt_ids=prompt_ids, action_ids=toy_tokenize(out) + [IM_END]))
                memory.append((obs, action))
                obs, stage = nxt, stage2
                if won:
                    break
            ep_reward = sum(s["reward"] for s in steps)
            for s in steps:
                s.update(uid=uid, traj_uid=traj_uid, episode_reward=ep_reward,
                         episode_length=len(steps), won=won,
                         score=ep_reward - (0.0 if s["valid"] else PENALTY))
            samples.extend(steps)
            trajs.append(dict(uid=uid, traj_uid=traj_uid, task=task.description, won=won,
                              episode_reward=ep_reward, steps=steps))
    return samples, trajs


def adjust_and_balance(rng, n):
    """adjust_batch(mode="copy") then _balance_batch, as indices into the
    gathered batch: random samples duplicated (without replacement) and
    appended until the size divides DIVISOR, then the batch reordered (a
    shuffle stands in for the balancing partition)."""
    rem = n % DIVISOR
    idx = list(range(n)) + (rng.sample(range(n), DIVISOR - rem) if rem else [])
    rng.shuffle(idx)
    return idx, len(idx) - n


def grpo_cross_steps(batch, no_std):
    """verl-agent's compute_grpo_outcome_advantage with compute_mean_std_cross_steps=True:
    the mean and sample std over every step sample of a uid, copies included."""
    by = {}
    for s in batch:
        by.setdefault(s["uid"], []).append(s["score"])
    out = []
    for s in batch:
        xs = by[s["uid"]]
        if len(xs) == 1:
            mean, std = 0.0, 1.0
        else:
            mean = sum(xs) / len(xs)
            std = (sum((x - mean) ** 2 for x in xs) / (len(xs) - 1)) ** 0.5
        out.append(s["score"] - mean if no_std else (s["score"] - mean) / (std + 1e-6))
    return out


def grpo_trajectories(trajs, no_std):
    """Trajectory-level GRPO (DESIGN.md section 4): one outcome per distinct
    trajectory, mean and sample std over the group's trajectories."""
    by = {}
    for t in trajs:
        by.setdefault(t["uid"], []).append(t["episode_reward"])
    adv = {}
    for t in trajs:
        xs = by[t["uid"]]
        mean = sum(xs) / len(xs)
        std = (sum((x - mean) ** 2 for x in xs) / (len(xs) - 1)) ** 0.5 if len(xs) > 1 else 0.0
        a = t["episode_reward"] - mean
        adv[t["traj_uid"]] = a if no_std else a / (std + 1e-6)
    return adv


def pad_tensors(samples):
    """prompts (left-padded), responses (right-padded) and attention_mask as
    verl's batch holds them, as numpy int64 arrays."""
    p = max(len(s["prompt_ids"]) for s in samples) + 3
    r = max(len(s["action_ids"]) for s in samples) + 5
    prompts = np.full((len(samples), p), PAD, dtype=np.int64)
    responses = np.full((len(samples), r), PAD, dtype=np.int64)
    mask = np.zeros((len(samples), p + r), dtype=np.int64)
    for i, s in enumerate(samples):
        a, b = s["prompt_ids"], s["action_ids"]
        prompts[i, p - len(a):] = a
        responses[i, :len(b)] = b
        mask[i, p - len(a):p + len(b)] = 1
    return {"prompts": prompts, "responses": responses, "attention_mask": mask}


class FakeBatch:
    """The parts of verl's DataProto that gradcouple_dump touches: the
    non-tensor fields the rollout loop sets, as numpy object arrays, and the
    padded token tensors."""

    def __init__(self, samples=None):
        self.batch = {}
        self.non_tensor_batch = {}
        if samples is not None:
            self.batch = pad_tensors(samples)
            nt = self.non_tensor_batch
            nt["uid"] = np.array([s["uid"] for s in samples], dtype=object)
            nt["traj_uid"] = np.array([s["traj_uid"] for s in samples], dtype=object)
            nt["anchor_obs"] = np.array([s["anchor_obs"] for s in samples], dtype=object)
            nt["is_action_valid"] = np.array([s["valid"] for s in samples], dtype=bool)
            nt["rewards"] = np.array([s["reward"] for s in samples], dtype=np.float32)
            nt["active_masks"] = np.ones(len(samples), dtype=bool)
            nt["episode_rewards"] = np.array([s["episode_reward"] for s in samples], dtype=np.float32)
            nt["episode_lengths"] = np.array([s["episode_length"] for s in samples], dtype=np.float32)

    def __len__(self):
        return len(self.non_tensor_batch["uid"])

    def select(self, idx):
        b = FakeBatch()
        b.batch = {k: v[idx] for k, v in self.batch.items()}
        b.non_tensor_batch = {k: v[idx] for k, v in self.non_tensor_batch.items()}
        return b


class FakeTrainer:
    def __init__(self, step):
        self.global_steps = step


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(__file__), "..", "..", "testdata", "adapters", "verl-agent")
    rng = random.Random(SEED)
    for d in ("stock", "patched", "patched-advantages"):
        os.makedirs(os.path.join(out, d), exist_ok=True)
    truth = {"seed": SEED, "steps": []}
    for step in STEPS:
        samples, trajs = rollout_step(rng, step)
        # The drop-in numbers the turns on the gathered batch, before the copies
        # and the reordering.
        gathered = FakeBatch(samples)
        gradcouple_dump.mark_turns(gathered)
        idx, ncopies = adjust_and_balance(rng, len(samples))
        batch = [samples[i] for i in idx]
        with open(os.path.join(out, "stock", f"{step}.jsonl"), "w") as f:
            for s in batch:
                f.write(json.dumps({"input": s["input"], "output": s["output"],
                                    "score": s["score"], "step": step}, ensure_ascii=False) + "\n")
        dumped = gathered.select(idx)
        trainer = FakeTrainer(step)
        inputs, outputs, scores = [s["input"] for s in batch], [s["output"] for s in batch], [s["score"] for s in batch]
        gradcouple_dump.dump(trainer, dumped, inputs, outputs, scores, os.path.join(out, "patched"))
        cross = grpo_cross_steps(batch, False)
        dumped.batch = {"advantages": np.array([[a, a] for a in cross], dtype=np.float32)}
        gradcouple_dump.dump(trainer, dumped, inputs, outputs, scores, os.path.join(out, "patched-advantages"))
        cross_nostd = grpo_cross_steps(batch, True)
        # A sample and its copies get the same cross-step advantage; keep one per (traj, turn).
        cross_by = {}
        for s, a, b in zip(batch, cross, cross_nostd):
            cross_by[(s["traj_uid"], s["turn"])] = (a, b)
        traj_adv = grpo_trajectories(trajs, False)
        traj_adv_nostd = grpo_trajectories(trajs, True)
        truth["steps"].append({
            "step": step, "lines": len(batch), "copies": ncopies,
            "trajectories": [{
                "uid": t["uid"], "traj_uid": t["traj_uid"], "task": t["task"], "won": t["won"],
                "episode_reward": t["episode_reward"],
                "advantage": traj_adv[t["traj_uid"]], "advantage_no_std": traj_adv_nostd[t["traj_uid"]],
                "steps": [{"turn": s["turn"], "action": s["action"], "valid": s["valid"],
                           "anchor_obs": s["anchor_obs"],
                           "prompt_ids_len": len(s["prompt_ids"]), "prompt_ids_crc32": ids_crc(s["prompt_ids"]),
                           "action_ids_len": len(s["action_ids"]), "action_ids_crc32": ids_crc(s["action_ids"]),
                           "score": s["score"], "reward": s["reward"],
                           "cross_step_advantage": cross_by[(t["traj_uid"], s["turn"])][0],
                           "cross_step_advantage_no_std": cross_by[(t["traj_uid"], s["turn"])][1]}
                          for s in t["steps"]],
            } for t in trajs],
        })
    with open(os.path.join(out, "truth.json"), "w") as f:
        json.dump(truth, f, indent=1, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main()
