"""Subprocess entry for the resume and torchrun tests: `python train_worker.py RUN_DIR MODE [JSON]`.

MODE: `fresh`, `kill:N` (SIGKILL itself after step N), `hold:N` (after step N print
"holding" and wait until the file named by $TRACKTUNE_TEST_GATE exists), `resume`. JSON:
train-section overrides.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

torch.set_num_threads(1)

from train_fixtures import memory_sources, tiny_config  # noqa: E402
from tracktune.train.trainer import resume_run, train  # noqa: E402


def main() -> None:
    run_dir, mode = sys.argv[1], sys.argv[2]
    overrides = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}
    model_overrides = overrides.pop("model", {})
    config = tiny_config(**overrides)
    for key, value in model_overrides.items():
        setattr(config.model, key, value)
    kill_after = int(mode.split(":")[1]) if mode.startswith("kill:") else None
    hold_after = int(mode.split(":")[1]) if mode.startswith("hold:") else None

    def on_step(step, _metrics):
        if step == kill_after:
            os.kill(os.getpid(), signal.SIGKILL)
        if step == hold_after:
            print("holding", flush=True)
            gate = Path(os.environ["TRACKTUNE_TEST_GATE"])
            while not gate.exists():
                time.sleep(0.01)

    if mode == "resume":
        resume_run(run_dir, progress=False, sources=memory_sources())
    else:
        train(config, run_dir, progress=False, sources=memory_sources(), on_step=on_step)


if __name__ == "__main__":
    main()
