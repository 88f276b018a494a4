"""Checkpoints of a run directory, and the inference model they rebuild.

Layout (docs/INTERFACES.md, "Run directory"): `RUN/checkpoints/step_XXXXXXX/` holds
- `trainable.safetensors`: the parameters that train, plus the model's persistent buffers
  (BatchNorm statistics of the OSTrack head), under their `model.named_parameters()` names;
- `frozen.safetensors`: only when the base weights cannot be re-read from a file
  (`model.pretrained` null) and some parameters are frozen: those parameters, so a LoRA run on
  a randomly initialised base still reloads exactly;
- `state.pt`: optimiser, scheduler, grad-scaler, RNG states, the step and, under `methods`, each
  adaptation method's non-empty `state_dict()` by method name (SRFT's transfer EMA and prior
  mapping); tensors, numbers and strings only, read with `torch.load(weights_only=True)`;
- `manifest.json`: step, epoch, the resolved config, the base-weights identity, versions and
  the files.

A checkpoint directory is written under a temporary name (`tracktune.files.temporary_dir`:
files fsync'd, mode 0644, then one rename), so a directory named `step_*` with a
`manifest.json` is always complete. Loading never unpickles arbitrary objects. Which methods
the model carries, and how they are checked and applied, is `tracktune.adapt`'s business
(`build_adapted_model`, `export_model`): this module names none.
"""

from __future__ import annotations

import hashlib
import json
import logging
import pickle
import re
import shutil
import sys
from pathlib import Path
from typing import Any, Optional

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from tracktune.adapt import build_adapted_model, export_model
from tracktune.config import ExperimentConfig, from_dict
from tracktune.errors import CheckpointError, ConfigError
from tracktune.files import is_temporary, temporary_dir

logger = logging.getLogger(__name__)

CHECKPOINTS = "checkpoints"
TRAINABLE_FILE = "trainable.safetensors"
FROZEN_FILE = "frozen.safetensors"
STATE_FILE = "state.pt"
MANIFEST_FILE = "manifest.json"
STEP_PATTERN = re.compile(r"^step_(\d+)$")
FORMAT_VERSION = 1


def step_name(step: int) -> str:
    return f"step_{step:07d}"


def list_checkpoints(run_dir: str | Path) -> list[Path]:
    """Complete checkpoint directories of a run (those with a manifest), oldest first."""
    root = Path(run_dir) / CHECKPOINTS
    if not root.is_dir():
        return []
    found = []
    for child in root.iterdir():
        match = STEP_PATTERN.match(child.name)
        if match and child.is_dir() and (child / MANIFEST_FILE).is_file():
            found.append((int(match.group(1)), child))
    return [path for _, path in sorted(found)]


def latest_checkpoint(run_dir: str | Path) -> Optional[Path]:
    found = list_checkpoints(run_dir)
    return found[-1] if found else None


def trainable_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """Parameters with `requires_grad` and persistent buffers, detached, contiguous, on CPU."""
    state = {name: p.detach().cpu().contiguous() for name, p in model.named_parameters() if p.requires_grad}
    persistent = set(model.state_dict(keep_vars=True))
    for name, buffer in model.named_buffers():
        if name in persistent and buffer is not None:
            state[name] = buffer.detach().cpu().contiguous()
    return state


def frozen_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.detach().cpu().contiguous() for name, p in model.named_parameters() if not p.requires_grad}


def _write_safetensors(tensors: dict[str, torch.Tensor], path: Path, metadata: Optional[dict] = None) -> None:
    # safetensors refuses tensors sharing storage; clone those that do
    seen: set[int] = set()
    out = {}
    for name, tensor in tensors.items():
        pointer = tensor.untyped_storage().data_ptr() if tensor.numel() else -1
        out[name] = tensor.clone() if pointer in seen else tensor
        if tensor.numel():
            seen.add(pointer)
    save_file(out, str(path), metadata=metadata)


def save_checkpoint(run_dir: str | Path, step: int, model: nn.Module, state: dict, manifest: dict,
                    keep_last: int = 3, include_frozen: bool = False) -> Path:
    """Write `checkpoints/step_XXXXXXX/` atomically and drop all but the last `keep_last`."""
    final = Path(run_dir) / CHECKPOINTS / step_name(step)
    with temporary_dir(final) as tmp:
        files = [TRAINABLE_FILE, STATE_FILE]
        _write_safetensors(trainable_state(model), tmp / TRAINABLE_FILE, {"step": str(step)})
        if include_frozen:
            frozen = frozen_state(model)
            if frozen:
                _write_safetensors(frozen, tmp / FROZEN_FILE, {"step": str(step)})
                files.append(FROZEN_FILE)
        torch.save(state, tmp / STATE_FILE)
        checksums = {name: file_sha256(tmp / name) for name in files}
        manifest = dict(manifest, step=step, files=files, format=FORMAT_VERSION, sha256=checksums)
        (tmp / MANIFEST_FILE).write_text(json.dumps(manifest, indent=1, default=str))
    if keep_last and keep_last > 0:
        for old in list_checkpoints(run_dir)[:-keep_last]:
            shutil.rmtree(old, ignore_errors=False)
    return final


def file_sha256(path: str | Path) -> str:
    """The SHA-256 of a file's bytes (recorded per file in the manifest at save time)."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def read_manifest(checkpoint: str | Path) -> dict:
    path = Path(checkpoint) / MANIFEST_FILE
    if not path.is_file():
        raise CheckpointError(f"not a checkpoint directory (no {MANIFEST_FILE}): {checkpoint}")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path}: unreadable manifest ({exc})") from None
    if not isinstance(manifest, dict):
        raise CheckpointError(f"{path}: unreadable manifest (not a JSON object)")
    return manifest


def read_state(checkpoint: str | Path) -> dict:
    path = Path(checkpoint) / STATE_FILE
    if not path.is_file():
        raise CheckpointError(f"checkpoint without {STATE_FILE}: {checkpoint}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError, ValueError, pickle.UnpicklingError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CheckpointError(f"{path}: unreadable (cut or corrupt: {first})") from None


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path))
    except Exception as exc:  # safetensors raises its own SafetensorError (and OSError / ValueError)
        raise CheckpointError(f"{path}: not a readable safetensors file (cut or corrupt: {exc})") from None


def verify_checkpoint(checkpoint: str | Path) -> dict:
    """Check a checkpoint before anything is loaded from it: the manifest reads and lists its
    files, each file is there with the SHA-256 recorded at save time (checkpoints saved
    before checksums were recorded: the safetensors headers parse), and the recorded config
    passes validation. Returns the manifest; a `CheckpointError` names the file at fault."""
    from safetensors import safe_open

    checkpoint = Path(checkpoint)
    manifest = read_manifest(checkpoint)
    files = manifest.get("files")
    if not isinstance(files, list) or TRAINABLE_FILE not in files:
        raise CheckpointError(f"{checkpoint / MANIFEST_FILE}: no file list with {TRAINABLE_FILE}")
    checksums = manifest.get("sha256") or {}
    for name in files:
        path = checkpoint / name
        if not path.is_file():
            raise CheckpointError(f"{path}: missing (listed in {MANIFEST_FILE})")
        if name in checksums:
            if file_sha256(path) != checksums[name]:
                raise CheckpointError(f"{path}: checksum differs from the one recorded at save time "
                                      "(the file was cut or changed)")
        elif name.endswith(".safetensors"):
            try:
                with safe_open(str(path), "pt") as handle:
                    handle.keys()
            except Exception as exc:  # SafetensorError
                raise CheckpointError(f"{path}: not a readable safetensors file ({exc})") from None
    config_of(checkpoint, manifest)
    return manifest


def latest_verified_checkpoint(run_dir: str | Path) -> tuple[Optional[Path], list[str]]:
    """The newest checkpoint of a run that verifies (`verify_checkpoint`), and one note per
    newer checkpoint skipped (what is wrong with it)."""
    skipped = []
    for checkpoint in reversed(list_checkpoints(run_dir)):
        try:
            verify_checkpoint(checkpoint)
        except CheckpointError as exc:
            skipped.append(f"skipped {checkpoint.name}: {exc}")
            continue
        return checkpoint, skipped
    return None, skipped


def load_weights(model: nn.Module, checkpoint: str | Path, strict: bool = True) -> list[str]:
    """Copy the checkpoint's tensors into `model` by name (trainable, then frozen if present).

    With `strict`, a tensor the model lacks, a shape mismatch or a trainable parameter the
    checkpoint lacks is a `CheckpointError`. Returns the names loaded.
    """
    checkpoint = Path(checkpoint)
    tensors: dict[str, torch.Tensor] = {}
    for filename in (TRAINABLE_FILE, FROZEN_FILE):
        path = checkpoint / filename
        if path.is_file():
            tensors.update(_read_safetensors(path))
    if not tensors:
        raise CheckpointError(f"checkpoint without {TRAINABLE_FILE}: {checkpoint}")
    targets = dict(model.named_parameters())
    targets.update(dict(model.named_buffers()))
    unknown = sorted(set(tensors) - set(targets))
    if unknown and strict:
        raise CheckpointError(f"{checkpoint}: {len(unknown)} tensors the model does not have, e.g. {unknown[:5]}")
    missing = sorted(n for n, p in model.named_parameters() if p.requires_grad and n not in tensors)
    if missing and strict:
        raise CheckpointError(f"{checkpoint}: {len(missing)} trainable parameters not in the checkpoint, "
                              f"e.g. {missing[:5]}")
    loaded = []
    with torch.no_grad():
        for name, value in tensors.items():
            if name not in targets:
                continue
            target = targets[name]
            if tuple(target.shape) != tuple(value.shape):
                raise CheckpointError(f"{checkpoint}: {name} has shape {tuple(value.shape)}, "
                                      f"the model's is {tuple(target.shape)}")
            target.copy_(value.to(target.dtype))
            loaded.append(name)
    return loaded


def resolve_checkpoint(path: str | Path, notes=None) -> Path:
    """A verified checkpoint directory from a run directory (its newest that verifies; newer
    ones skipped are reported on stderr, or to `notes(text)`) or a checkpoint directory (which
    must verify)."""
    path = Path(path)
    if (path / MANIFEST_FILE).is_file():
        verify_checkpoint(path)
        return path
    if path.is_dir():
        if not list_checkpoints(path):
            raise CheckpointError(f"{path}: no complete checkpoint under {path / CHECKPOINTS}")
        latest, skipped = latest_verified_checkpoint(path)
        if latest is not None:
            for note in skipped:
                (notes or _note)(f"{path}: {note}")
            if skipped:
                (notes or _note)(f"{path}: using {latest.name}")
            return latest
        raise CheckpointError(f"{path}: no checkpoint that verifies ({'; '.join(skipped)})")
    raise CheckpointError(f"checkpoint not found: {path}")


def _note(text: str) -> None:
    print(f"note: {text}", file=sys.stderr)


def config_of(checkpoint: Path, manifest: Optional[dict] = None) -> Any:
    """The resolved config a checkpoint was trained with (its manifest's copy, validated)."""
    checkpoint = Path(checkpoint)
    manifest = read_manifest(checkpoint) if manifest is None else manifest
    if not isinstance(manifest.get("config"), dict):
        raise CheckpointError(f"{checkpoint / MANIFEST_FILE}: no config recorded")
    try:
        return from_dict(ExperimentConfig, manifest["config"])
    except ConfigError as exc:
        raise CheckpointError(f"{checkpoint / MANIFEST_FILE}: the recorded config is invalid: {exc}") from None


# what a run writes into its directory (`--overwrite` replaces these and nothing else)
RUN_FILES = ("config.yaml", "metrics.jsonl", CHECKPOINTS, "tensorboard")


def claim_run_dir(run_dir: str | Path, resume: bool, overwrite: bool = False, notes=None) -> None:
    """Make `run_dir` ready for a run that owns it (its lock is held): remove the temporary
    files and folders killed runs left (named in a note); for a fresh run, refuse a
    directory holding another run's checkpoints or metrics unless `overwrite`, which removes
    the files a run writes (`RUN_FILES`) and nothing else."""
    notes = notes or _note
    run_dir = Path(run_dir)
    removed = []
    for folder in (run_dir, run_dir / CHECKPOINTS):
        if folder.is_dir():
            for path in sorted(folder.iterdir()):
                if is_temporary(path):
                    shutil.rmtree(path) if path.is_dir() else path.unlink()
                    removed.append(path.name)
    if removed:
        notes(f"{run_dir}: removed what killed runs left half-written: {', '.join(removed)}")
    if resume:
        return
    metrics = run_dir / "metrics.jsonl"
    held = [name for name, present in (
        (CHECKPOINTS, bool(list_checkpoints(run_dir))),
        ("metrics.jsonl", metrics.is_file() and metrics.stat().st_size > 0),
    ) if present]
    if not held:
        return
    if not overwrite:
        raise CheckpointError(f"{run_dir} holds another run's files ({', '.join(held)}); continue it with "
                              f"--resume {run_dir}, pass --overwrite to replace them, or choose another --out")
    replaced = []
    for name in RUN_FILES:
        path = run_dir / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
        else:
            continue
        replaced.append(name)
    notes(f"{run_dir}: --overwrite: removed the previous run's {', '.join(replaced)}")


def build_training_model(config) -> tuple[nn.Module, list]:
    """`build_model(config)` with the configured methods checked and applied; returns
    (model, methods). (`tracktune.adapt.build_adapted_model`: the one place a method list is
    built, for training, inference export and `model-info`.)"""
    return build_adapted_model(config)


def load_tracker_model(path: str | Path, device: str | torch.device = "cpu") -> nn.Module:
    """The inference model of a run directory (its latest checkpoint) or a checkpoint directory:
    rebuilt from the recorded config, trained weights loaded, each method's `export` applied
    (LoRA merged), in eval mode. The resolved config is kept as `model.config`."""
    checkpoint = resolve_checkpoint(path)
    config = config_of(checkpoint)
    seed_state = torch.get_rng_state()
    torch.manual_seed(config.seed)  # the same random init as training (frozen weights of a base without a file)
    try:
        model, methods = build_training_model(config)
    finally:
        torch.set_rng_state(seed_state)
    manifest = read_manifest(checkpoint)
    if config.model.pretrained is None and FROZEN_FILE not in manifest.get("files", []):
        frozen = [n for n, p in model.named_parameters() if not p.requires_grad]
        if frozen:
            logger.warning("%s: no frozen weights stored and no model.pretrained; %d frozen parameters keep the "
                           "seeded random init", checkpoint, len(frozen))
    load_weights(model, checkpoint)
    model = export_model(model, methods)
    model.config = config
    return model.to(device).eval()
