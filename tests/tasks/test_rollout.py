"""`python run.py task=rollout` end to end on the tiny model: trajectories.jsonl follows the stage rules."""

import json
import os
import subprocess
import sys

from agemem import PROJECT_ROOT
from agemem.records import Trajectory
from data_gen.config import DataConfig
from data_gen.sources import build_episodes
from stages.integrated_reasoning import QUESTION_INPUT
from stages.stm_control import DISTRACTOR_INPUT


def test_task_rollout_writes_trajectories_that_follow_the_stage_rules(tmp_path, tokenizer):
    overrides = ["task=rollout", "rollout.num_episodes=2", "rollout.group_size=2", "rollout.max_new_tokens=16",
                 "trainer.total_steps=1", "data.difficulty=0", "curriculum.max_rounds=1",
                 "curriculum.num_distractors=1", f"out={tmp_path}", f"hydra.run.dir={tmp_path / 'hydra'}"]
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    done = subprocess.run([sys.executable, "run.py", *overrides], cwd=PROJECT_ROOT, env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    for name in ("1 LTM construction", "2 STM control", "3 reasoning", "steps", "fmt_err", "answers"):
        assert name in done.stdout
    assert "4 trajectories of 2 episodes × 2" in done.stdout

    lines = (tmp_path / "trajectories.jsonl").read_text().splitlines()
    trajectories = [Trajectory.from_dict(json.loads(line)) for line in lines]
    episodes = build_episodes(DataConfig(difficulty=0), seed=0).episodes[:2]
    assert [(t.episode_id, t.group_index) for t in trajectories] == [(e.id, k) for e in episodes for k in (0, 1)]
    for traj, episode in zip(trajectories, [e for e in episodes for _ in (0, 1)]):
        prompts = {stage: [tokenizer.decode(s.prompt_ids, skip_special_tokens=False)
                           for s in traj.steps if s.stage == stage] for stage in (1, 2, 3)}
        assert [s.stage for s in traj.steps] == [1] * len(prompts[1]) + [2] * len(prompts[2]) + [3] * len(prompts[3])
        assert len(prompts[1]) == len(episode.contexts) and len(prompts[2]) == 1 and len(prompts[3]) == 1
        assert all(episode.question not in p for p in prompts[1])
        assert all(context in prompts[1][-1] for context in episode.contexts)
        assert not any(context in prompts[2][0] for context in episode.contexts)  # stage 2 starts from a reset
        assert DISTRACTOR_INPUT.format(content=episode.distractors[0]) in prompts[2][0]
        assert prompts[3][0].startswith(prompts[2][-1])  # stage 3 continues the stage-2 context
        assert QUESTION_INPUT.format(question=episode.question) in prompts[3][0]
        assert all(s.context_tokens == len(s.prompt_ids) for s in traj.steps)
        assert set(traj.stage_end) == {1, 2, 3}
