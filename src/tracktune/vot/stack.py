"""A local VOT stack from any dataset tracktune loads (`tracktune vot stack NAME --root DIR
--out STACKDIR`), so the VOT toolkit evaluates offline on one's own data.

Writes `STACKDIR/stack.yaml` and `STACKDIR/sequences/` in the toolkit's sequence layout
(what votchallenge/toolkit `vot/dataset/common.py` `read_sequence` reads):
`sequences/list.txt`, and per sequence a `sequence` properties file
(`channels.color=color/%08d.jpg`, `channels.depth=depth/%08d.png` or `channels.ir=ir/%08d.jpg`,
`fps`, `width`, `height`, `length`), the frames under those names (frames numbered from 1;
each file hard-linked to the dataset's where the file system allows, else copied: the stored
values, so 16-bit depth stays 16-bit and the tracker colour-maps it as in training), and
`groundtruth.txt` (`x,y,w,h` per frame, `nan,nan,nan,nan` where the target is absent, which
the toolkit reads as an unknown region).

Experiments (`EXPERIMENTS`): `unsupervised` (default): one run per sequence from the first
frame's box, scored with the toolkit's long-term analyses (`average_tpr`: precision, recall,
F over confidence thresholds; `pr_curve`; `f_curve`), as the VOT-RGBD2019 stack does; this is
what `tracktune evaluate --protocol vot_lt` reproduces. `multistart`: the VOT-RGBD2022 /
VOT-RGBTIR2020 protocol (the tracker restarted at anchors, EAO / A / R), for stacks with
anchor files; the toolkit's `multistart_*` analyses score it (tracktune's own multistart
scoring is `tracktune.eval`'s business, where it plugs in as another protocol reading the
same result folders).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import yaml

from tracktune.errors import ConfigError, DataError
from tracktune.files import temporary_dir

# tracktune modality -> VOT channel
CHANNELS = {"rgb": "color", "depth": "depth", "thermal": "ir"}


def experiment_spec(kind: str, longest: int) -> dict:
    """The stack's one experiment, `baseline`, of `kind` (see the module docstring)."""
    if kind == "unsupervised":
        return {"type": "unsupervised", "repetitions": 1,
                "analyses": [{"type": "average_tpr", "name": "average_tpr"}, {"type": "pr_curve"},
                             {"type": "f_curve"}]}
    if kind == "multistart":
        return {"type": "multistart",
                "analyses": [{"type": "multistart_average_ar", "name": "ar"},
                             {"type": "multistart_eao_score", "name": "eaoscore", "low": 1, "high": longest}]}
    raise ConfigError(f"--experiment: unknown '{kind}' (choose from {', '.join(EXPERIMENTS)})")


EXPERIMENTS = ("unsupervised", "multistart")
STACK_FILE = "stack.yaml"


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _region_lines(boxes: np.ndarray) -> str:
    lines = []
    for box in boxes:
        if np.isfinite(box).all() and box[2] > 0 and box[3] > 0:
            lines.append(",".join(f"{v:.4f}" for v in box))
        else:
            lines.append("nan,nan,nan,nan")
    return "\n".join(lines) + "\n"


def write_sequence(sequence, folder: Path) -> dict:
    """One `Sequence` in the toolkit's layout under `folder` (new); returns its properties."""
    from tracktune.data.sequence import read_image

    modalities = [m for m in sequence.frames if m in CHANNELS]
    unsupported = [m for m in sequence.frames if m not in CHANNELS]
    if unsupported:
        raise DataError(f"sequence {sequence.name}: the VOT toolkit has no channel for {', '.join(unsupported)} "
                        f"(it reads {', '.join(CHANNELS)})")
    length = len(sequence)
    if length == 0:
        raise DataError(f"sequence {sequence.name}: no frames")
    if len(sequence.boxes) < length:
        raise DataError(f"sequence {sequence.name}: {len(sequence.boxes)} boxes for {length} frames")
    properties = {"fps": str(int(round(float(sequence.meta.get("fps", 30))))), "format": "default"}
    for modality in modalities:
        channel = CHANNELS[modality]
        paths = sequence.frames[modality]
        suffix = Path(paths[0]).suffix.lower()
        if any(Path(p).suffix.lower() != suffix for p in paths[:length]):
            raise DataError(f"sequence {sequence.name}: {modality} frames of mixed file types")
        (folder / channel).mkdir(parents=True)
        for index in range(length):
            _link_or_copy(Path(paths[index]), folder / channel / f"{index + 1:08d}{suffix}")
        properties[f"channels.{channel}"] = f"{channel}/%08d{suffix}"
    height, width = read_image(sequence.frames[modalities[0]][0]).shape[:2]
    properties.update({"width": str(width), "height": str(height), "length": str(length)})
    (folder / "groundtruth.txt").write_text(_region_lines(sequence.boxes[:length]))
    (folder / "sequence").write_text("".join(f"{k}={v}\n" for k, v in properties.items()))
    return properties


def make_stack(sequences, out: str | Path, title: str, experiment: str = "unsupervised",
               force: bool = False) -> Path:
    """Write `out/stack.yaml` and `out/sequences/` for `sequences`; returns the stack file."""
    if experiment not in EXPERIMENTS:
        raise ConfigError(f"--experiment: unknown '{experiment}' (choose from {', '.join(EXPERIMENTS)})")
    if not sequences:
        raise DataError("no sequences to write")
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not force:
        raise ConfigError(f"{out} exists and is not empty; pass --force to replace it")
    with temporary_dir(out) as staging:
        seq_root = staging / "sequences"
        seq_root.mkdir()
        longest = 0
        for sequence in sequences:
            write_sequence(sequence, seq_root / sequence.name)
            longest = max(longest, len(sequence))
        (seq_root / "list.txt").write_text("".join(s.name + "\n" for s in sequences))
        stack = {"title": title, "experiments": {"baseline": experiment_spec(experiment, longest)}}
        (staging / STACK_FILE).write_text(yaml.safe_dump(stack, sort_keys=False))
    return out / STACK_FILE


def stack_paths(stack: str | Path) -> tuple[Path, Path] | None:
    """(stack file, sequences folder) of a local stack folder or file written here, or None."""
    path = Path(stack)
    if path.is_dir() and (path / STACK_FILE).is_file():
        return (path / STACK_FILE).resolve(), (path / "sequences").resolve()
    if path.is_file() and path.suffix in (".yaml", ".yml"):
        return path.resolve(), (path.parent / "sequences").resolve()
    return None
