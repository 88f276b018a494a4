"""A tiny tracker config, a stub model with a known output and in-memory sequences for the
tracking tests; a one-step trained run directory (`run_dir`) and a LasHeR-layout writer for
the command tests."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from tracktune.config import load_config
from tracktune.data.sequence import Sequence


def micro_config(fusion: str = "early_add", amp: str = "none"):
    """tiny_rgbt made smaller: 2 blocks, 32 wide, 64 / 128 crops (4x4 / 8x8 cells)."""
    return load_config(None, [
        "model.design=lorat", "model.size=tiny", "model.embed_dim=32", "model.depth=2", "model.num_heads=2",
        "model.patch_size=16", "model.template_size=64", "model.search_size=128", f"model.fusion={fusion}",
        "model.pretrained=null", "methods=[full]", f"track.amp={amp}", "data.modality=thermal",
    ])


def micro_model(fusion: str = "early_add", seed: int = 0):
    from tracktune.model import build_model

    torch.manual_seed(seed)
    config = micro_config(fusion)
    return build_model(config).eval(), config


class StubModel(nn.Module):
    """Returns the same score logits (Gh, Gw) and normalised crop boxes (Gh, Gw, 4) for every input."""

    def __init__(self, score_logits: np.ndarray, boxes: np.ndarray, template_size=64, search_size=128, patch=16,
                 design="lorat"):
        super().__init__()
        self.design, self.patch_size = design, patch
        self.weight = nn.Parameter(torch.zeros(1))
        self.fusion_module = nn.Module()
        self.fusion_module.needs_aux = False
        self.template_size, self.search_size = template_size, search_size
        self.template_grid = (template_size // patch, template_size // patch)
        self.search_grid = (search_size // patch, search_size // patch)
        self.score_logits = torch.as_tensor(score_logits, dtype=torch.float32)
        self.boxes = torch.as_tensor(boxes, dtype=torch.float32)
        self.calls = []
        self.eval()  # as load_tracker_model returns it: an fp32 eval model runs without a copy

    def forward(self, template_rgb, search_rgb, template_aux=None, search_aux=None, template_mask=None):
        self.calls.append({"search_rgb": search_rgb.clone(), "template_mask": template_mask.clone()})
        batch = search_rgb.shape[0]
        return {"score_logits": self.score_logits.expand(batch, -1, -1),
                "boxes": self.boxes.expand(batch, -1, -1, -1)}


class MovingBoxSequence(Sequence):
    """Frames drawn on demand: a bright box moving over a gradient; thermal: a hot box."""

    def __init__(self, name: str, length: int, size=(160, 120), seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        w, h = size
        start = rng.uniform([20, 20], [w - 50, h - 50])
        velocity = rng.uniform(-3, 3, size=2)
        box_size = rng.uniform(16, 28, size=2)
        boxes = [[*np.clip(start + velocity * i, 2, [w - box_size[0] - 2, h - box_size[1] - 2]), *box_size]
                 for i in range(length)]
        frames = {m: [f"{name}/{m}/{i:04d}.png" for i in range(length)] for m in ("rgb", "thermal")}
        super().__init__(name, frames, np.array(boxes))
        self.size, self.seed = size, seed

    def frame(self, index: int, modality: str = "rgb") -> np.ndarray:
        w, h = self.size
        xs = np.linspace(0, 1, w)[None, :, None]
        ys = np.linspace(0, 1, h)[:, None, None]
        image = np.concatenate([60 + 80 * xs + 0 * ys, 50 + 90 * ys + 0 * xs, 100 + 40 * xs * ys], axis=2)
        if modality != "rgb":
            image[:] = 30
        x, y, bw, bh = self.boxes[index]
        image[int(y):int(y + bh), int(x):int(x + bw)] = (200, 60 + 10 * (self.seed % 5), 40) if modality == "rgb" else 220
        return image.astype(np.uint8)


def trained_run(run_dir, fusion: str = "early_add"):
    """A run directory of the micro model trained for one step on in-memory sequences
    (the trainer's checkpoint format, read back by `load_tracker_model`)."""
    from tracktune.config import from_dict, to_dict
    from tracktune.data.pairs import PairSource
    from tracktune.train.trainer import train

    data = to_dict(micro_config(fusion))
    data["data"].update({"samples_per_epoch": 2, "num_workers": 0, "max_gap": 3})
    data["train"].update({"epochs": 1, "batch_size": 2, "amp": "none", "log_every": 1, "checkpoint_every": 1,
                          "device": "cpu", "warmup_fraction": 0.0})
    config = from_dict(type(micro_config()), data)
    sources = [PairSource("memory", [MovingBoxSequence(f"s{i}", 6, seed=i) for i in range(2)])]
    return train(config, run_dir, progress=False, sources=sources)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A `trained_run` directory, trained once per test module that imports this fixture."""
    directory = tmp_path_factory.mktemp("run") / "micro"
    trained_run(directory)
    return directory


def write_lasher_tree(root, sequences):
    """A LasHeR-layout folder: <seq>/visible/*.jpg, infrared/*.jpg, init.txt, visible.txt."""
    for sequence in sequences:
        folder = root / sequence.name
        for modality, sub, prefix in (("rgb", "visible", "v"), ("thermal", "infrared", "i")):
            (folder / sub).mkdir(parents=True)
            for i in range(len(sequence.boxes)):
                image = cv2.cvtColor(sequence.frame(i, modality), cv2.COLOR_RGB2BGR)
                cv2.imwrite(str(folder / sub / f"{prefix}{i:06d}.jpg"), image)
        lines = "".join(",".join(f"{v:.3f}" for v in box) + "\n" for box in sequence.boxes)
        for name in ("init.txt", "visible.txt", "infrared.txt"):
            (folder / name).write_text(lines)
    (root / "testingsetList.txt").write_text("".join(s.name + "\n" for s in sequences))
