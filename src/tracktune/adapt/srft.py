"""SRFT: significance-regularised full fine-tuning (prior + transfer significance).

Source: "Optimizing Multi-Modality Trackers via Significance-Regularized Tuning"
(arXiv 2508.17488 v3; code zhiwen-xdu/SRTrack). The paper's full text was not available
to us: this module is OUR READING of its abstract, of the specification (docs/methods.md#srft) and of the
released code. What each choice rests on:

- Prior significance = curvature of the tracking loss at the pretrained RGB weights
  ("tangent space"), measured once on N batches of the target data's RGB stream through
  the RGB model. We use K-FAC (Martens & Grosse 2015) for every `nn.Linear`:
  `F ~= B (x) A` with A = E[a a^T] over layer inputs and B = E[g g^T] over gradients
  w.r.t. layer outputs. Choices (ours, from the K-FAC literature, not from the paper):
  * a Linear with a bias gets an input column of ones (A is (in+1)x(in+1)), so weight and
    bias form one matrix `[W | b]` under one Kronecker factorisation;
  * tokens are independent rows ("K-FAC expand", Eschenhagen et al. 2023): A is the mean
    of a a^T over all token rows, B the per-sample sum over tokens of g g^T averaged over
    samples; output gradients are multiplied by the batch size because the tracking loss
    is a batch mean (per-sample gradients are wanted);
  * the empirical Fisher (gradients of the tracking loss with the ground-truth boxes), since
    the tracker's output distribution has no cheap sampler;
  * significance of eigen-direction (j, k) is s_jk = b_j a_k / max(b) max(a) per layer, so
    it lies in [0, 1] and lambda_p means the same for every layer;
  * "top-r keeps 99% of the spectral energy" is applied per factor: r_A (r_B) is the
    smallest number of leading eigenvalues of A (B) whose sum is >= energy * trace. The
    steep block is r_B x r_A, so projections cost O(r (in+out) max(in,out)).
  Every other parameter the RGB model has (LayerNorm, conv patch embedding, position
  embeddings, head convolutions), and every parameter in `mode: diag`, gets the diagonal
  (EWC) Fisher E[g^2], estimated as batch_size * (mini-batch gradient)^2 (unbiased near a
  stationary point), normalised per tensor to [0, 1].
- Penalty `R_prior = 0.5 * sum s_jk (Q_B^T dW Q_A)_jk^2` (dW = W - W_0) over the steep block;
  untruncated it equals `0.5 tr(dW^T B dW A) / max` (tested). Offered as a coupled loss
  (`srft.coupled`, off by default) and, as docs/methods.md#srft asks, as a decoupled proximal step
  after each optimiser update: the steep block of `Q_B^T (W~ - W_0) Q_A` is divided by
  `1 + eta kappa lambda_p s_jk`, eta being the current learning rate. This is the exact
  implicit (proximal) step on the penalty, so Adam's normalisation cannot wash it out.
- Transfer significance T_i = EMA_0.9(g_i^2) of the gradients during fine-tuning,
  normalised per tensor by its maximum (so T in [0, 1]; dividing by the max keeps ratios),
  optionally multiplied by the Hoyer sparsity of that tensor's T ((sqrt(n) - |T|_1/|T|_2)
  / (sqrt(n) - 1), our reading of "sparsity factor": diffuse significance damps less).
  Proximal damping toward the previous weights:
  `theta_t = theta_{t-1} + (theta~_t - theta_{t-1}) / (1 + c T_i)`, c = (1 - kappa) lambda_t.
  The released code does a related momentum step toward the previous weights with
  sorted-rank factors; it gathers the sorted factors instead of scattering them (so each
  parameter gets another one's factor) and overrides every learning rate to 1e-6: we do
  neither (documented departures).
- Order inside `after_step`: the transfer step first (it damps this step's update), then
  the prior step on the result (it pulls toward W_0).
- kappa(t) = 0.5 (1 + cos(pi t)) by default: prior early, transfer late; `linear` 1 - t and
  `constant` options.
- LoRA (`methods: [lora, srft]`): the significance acts on the LoRA update
  dW = scaling * B A of each wrapped Linear (the base weights stay W_0). The coupled penalty
  is differentiable in A and B directly. The decoupled step shrinks dW as above and maps
  the result back onto B by least squares with A fixed (B <- dW' A^T (A A^T)^-1 / scaling),
  which keeps the rank and equals the exact shrink projected on A's row space. The
  transfer step acts on the LoRA tensors A and B themselves.
- Engineering (ours): the factors are cached in `srft.cache_dir` under a key of the RGB
  weights, the batches, the mode and the precision; writers use a unique temporary name and
  an atomic rename, so concurrent runs never read a partial file. A checkpoint carries the
  method's `state_dict()`: the transfer EMA, the prior's key and the layer -> RGB-layer
  mapping; a resumed run measures (or reads) the prior again, checks its key, and rebuilds
  the anchors W_0 from the RGB weights through the saved mapping (the resumed weights no
  longer equal W_0, so matching by value would fail), which makes resuming exact.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Optional

import torch
from torch import nn

from tracktune.adapt import Method
from tracktune.errors import CheckpointError, ConfigError

# --------------------------------------------------------------------------------------
# Schedule
# --------------------------------------------------------------------------------------

SCHEDULES = ("cosine", "linear", "constant")


def kappa(progress: float, schedule: str = "cosine", constant: float = 0.5) -> float:
    """Weight of the prior at training progress t in [0, 1]; the transfer term gets 1 - kappa."""
    t = min(max(float(progress), 0.0), 1.0)
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * t))
    if schedule == "linear":
        return 1.0 - t
    if schedule == "constant":
        return float(constant)
    raise ConfigError(f"srft.schedule: {schedule!r} is not one of {', '.join(SCHEDULES)}")


# --------------------------------------------------------------------------------------
# Prior significance: K-FAC factors and diagonal Fisher
# --------------------------------------------------------------------------------------


class FactorCollector:
    """Accumulates K-FAC factors of Linear layers and the diagonal Fisher of other parameters.

    Use as a context manager around forward/backward passes; call `add_batch(batch_size)`
    after each backward. `linears` maps a name to an nn.Linear; `diagonal` maps a name to a
    parameter whose E[g^2] is wanted. Gradients w.r.t. a Linear's output are captured by a
    tensor hook registered in its forward hook (robust to in-place ops after the layer).
    """

    def __init__(self, linears: dict[str, nn.Linear], diagonal: dict[str, nn.Parameter]) -> None:
        self.linears = linears
        self.diagonal = diagonal
        self.input_sums: dict[str, torch.Tensor] = {}  # name -> (in', in') sum of a a^T
        self.input_rows: dict[str, int] = {}
        self.output_sums: dict[str, torch.Tensor] = {}  # name -> (out, out) sum of g g^T
        self.diagonal_sums: dict[str, torch.Tensor] = {}
        self.samples = 0  # per-sample count (for B and the diagonal)
        self.batches = 0
        self._grad_scale = 1.0
        self._handles: list = []
        self._shared_moments: dict[tuple, tuple] = {}

    def __enter__(self) -> "FactorCollector":
        for name, layer in self.linears.items():
            self._handles.append(layer.register_forward_hook(self._forward_hook(name, layer.bias is not None)))
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def set_grad_scale(self, scale: float) -> None:
        """Factor applied to captured output gradients (the batch size for a batch-mean loss)."""
        self._grad_scale = float(scale)

    def _forward_hook(self, name: str, has_bias: bool):
        def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            if not torch.is_grad_enabled():
                return
            source = inputs[0].detach()
            shared = self._shared_moments.get((id(inputs[0]), has_bias))
            moment = shared[1] if shared is not None and shared[0] is inputs[0] else None
            if moment is None:  # q, k and v read one tensor: compute its moment once per pass
                rows = source.reshape(-1, source.shape[-1]).float()  # (M, in)
                if has_bias:
                    rows = torch.cat([rows, rows.new_ones(rows.shape[0], 1)], dim=1)  # (M, in+1)
                moment = rows.T @ rows
                self._shared_moments[(id(inputs[0]), has_bias)] = (inputs[0], moment)  # holds the input: id stays unique
            if name in self.input_sums:
                self.input_sums[name] += moment
            else:
                self.input_sums[name] = moment.clone()
            self.input_rows[name] = self.input_rows.get(name, 0) + source.numel() // source.shape[-1]
            if output.requires_grad:
                output.register_hook(self._output_grad_hook(name))

        return hook

    def _output_grad_hook(self, name: str):
        def hook(grad: torch.Tensor) -> None:
            rows = grad.detach().reshape(-1, grad.shape[-1]).float() * self._grad_scale  # (M, out)
            moment = rows.T @ rows
            if name in self.output_sums:
                self.output_sums[name] += moment
            else:
                self.output_sums[name] = moment

        return hook

    def add_batch(self, batch_size: int) -> None:
        """After a backward pass: record its sample count and the diagonal Fisher terms."""
        self._shared_moments.clear()
        for name, parameter in self.diagonal.items():
            if parameter.grad is None:
                continue
            square = parameter.grad.detach().float().square() * float(batch_size)
            if name in self.diagonal_sums:
                self.diagonal_sums[name] += square
            else:
                self.diagonal_sums[name] = square.clone()
        self.samples += int(batch_size)
        self.batches += 1

    def factors(self) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """(A per Linear, B per Linear, diagonal Fisher per parameter) as expectations."""
        missing = [n for n in self.linears if n not in self.output_sums]
        if self.batches == 0 or missing:
            raise ConfigError(
                "srft prior: no gradient reached " + (", ".join(missing[:5]) if missing else "any layer")
                + " (is the loss connected to these layers?)"
            )
        input_moments = {n: s / self.input_rows[n] for n, s in self.input_sums.items()}
        output_moments = {n: s / self.samples for n, s in self.output_sums.items()}
        diagonal = {n: s / self.batches for n, s in self.diagonal_sums.items()}
        return input_moments, output_moments, diagonal


@dataclass
class Eigenbasis:
    """Eigen-decomposition of one symmetric PSD factor, eigenvalues descending, clamped >= 0."""

    values: torch.Tensor  # (n,)
    vectors: torch.Tensor  # (n, n) columns are eigenvectors

    @staticmethod
    def of(matrix: torch.Tensor) -> "Eigenbasis":
        """Single precision (about 3x faster than double on CPU for ViT-B's 3073-wide factors;
        eigenvalue errors ~1e-6 of the largest, far below what the 99% energy cut keeps),
        double precision when LAPACK does not converge in single."""
        symmetric = 0.5 * (matrix + matrix.T)
        try:
            values, vectors = torch.linalg.eigh(symmetric.float())
        except RuntimeError:  # torch.linalg.LinAlgError: ill-conditioned in float32
            values, vectors = torch.linalg.eigh(symmetric.double())
        values, vectors = values.flip(0).clamp_min(0.0), vectors.flip(1)
        return Eigenbasis(values.float().contiguous(), vectors.float().contiguous())

    def rank_for_energy(self, energy: float) -> int:
        """Fewest leading eigenvalues whose sum reaches `energy` of the trace (at least 1)."""
        total = float(self.values.sum())
        if total <= 0.0 or energy >= 1.0:
            return int(self.values.numel())
        cumulative = torch.cumsum(self.values.double(), 0) / total
        return int(min(int((cumulative < energy).sum()) + 1, self.values.numel()))


@dataclass
class LinearPrior:
    """The steep block of one Linear layer's K-FAC Fisher, in its eigenbasis."""

    output_basis: torch.Tensor  # Q_B restricted to the top r_B directions (out, r_B)
    input_basis: torch.Tensor  # Q_A restricted to the top r_A directions (in', r_A)
    significance: torch.Tensor  # s_jk in [0, 1], (r_B, r_A)
    has_bias: bool

    @staticmethod
    def from_factors(output_eig: Eigenbasis, input_eig: Eigenbasis, energy: float, has_bias: bool) -> "LinearPrior":
        r_out, r_in = output_eig.rank_for_energy(energy), input_eig.rank_for_energy(energy)
        scale = float(output_eig.values.max()) * float(input_eig.values.max())
        significance = torch.outer(output_eig.values[:r_out], input_eig.values[:r_in])
        significance = significance / scale if scale > 0 else torch.zeros_like(significance)
        return LinearPrior(output_eig.vectors[:, :r_out].contiguous(), input_eig.vectors[:, :r_in].contiguous(),
                           significance, has_bias)

    def to(self, device: torch.device) -> "LinearPrior":
        return LinearPrior(self.output_basis.to(device), self.input_basis.to(device),
                           self.significance.to(device), self.has_bias)

    def project(self, delta: torch.Tensor) -> torch.Tensor:
        """Q_B^T dW Q_A for dW (out, in') -> (r_B, r_A)."""
        return self.output_basis.T @ delta @ self.input_basis

    def penalty(self, delta: torch.Tensor) -> torch.Tensor:
        """0.5 * sum s_jk (Q_B^T dW Q_A)_jk^2 (differentiable in dW)."""
        return 0.5 * (self.significance * self.project(delta).square()).sum()

    def shrink(self, delta: torch.Tensor, strength: float) -> torch.Tensor:
        """dW with its steep block divided by 1 + strength * s_jk; flat components unchanged."""
        projected = self.project(delta)
        removed = projected * (1.0 - 1.0 / (1.0 + strength * self.significance))  # (r_B, r_A)
        return delta - self.output_basis @ removed @ self.input_basis.T


def augmented(weight: torch.Tensor, bias: Optional[torch.Tensor]) -> torch.Tensor:
    """[W | b] (out, in+1), or W when there is no bias."""
    return weight if bias is None else torch.cat([weight, bias[:, None]], dim=1)


def normalised_diagonal(fisher: torch.Tensor) -> torch.Tensor:
    """Diagonal Fisher scaled per tensor to [0, 1] (all zeros when it vanishes)."""
    peak = float(fisher.max()) if fisher.numel() else 0.0
    return fisher / peak if peak > 0 else torch.zeros_like(fisher)


# --------------------------------------------------------------------------------------
# Transfer significance
# --------------------------------------------------------------------------------------


def hoyer_sparsity(values: torch.Tensor) -> float:
    """Hoyer's measure in [0, 1]: 1 for a single non-zero entry, 0 for a constant tensor."""
    n = values.numel()
    if n <= 1:
        return 1.0
    l2 = float(values.float().norm())
    if l2 == 0.0:
        return 0.0
    l1 = float(values.float().abs().sum())
    root = math.sqrt(n)
    return (root - l1 / l2) / (root - 1.0)


class TransferSignificance:
    """T_i = EMA(g_i^2) normalised per tensor to [0, 1] (times Hoyer sparsity if asked)."""

    def __init__(self, decay: float = 0.9, hoyer: bool = False) -> None:
        self.decay = decay
        self.hoyer = hoyer
        self.ema: dict[str, torch.Tensor] = {}

    def update(self, name: str, grad: torch.Tensor) -> torch.Tensor:
        """Fold in this step's gradient; return the normalised significance T (same shape)."""
        square = grad.detach().float().square()
        if name in self.ema:
            self.ema[name].mul_(self.decay).add_(square, alpha=1.0 - self.decay)
        else:
            self.ema[name] = square  # first step: the EMA starts at g^2 (scale is normalised away)
        significance = normalised_diagonal(self.ema[name])
        if self.hoyer:
            significance = significance * hoyer_sparsity(significance)
        return significance


def transfer_step(previous: torch.Tensor, proposed: torch.Tensor, significance: torch.Tensor,
                  strength: float) -> torch.Tensor:
    """theta_{t-1} + (theta~_t - theta_{t-1}) / (1 + c T): damp the update where T is large."""
    return previous + (proposed - previous) / (1.0 + strength * significance)


# --------------------------------------------------------------------------------------
# Computing and caching the prior factors
# --------------------------------------------------------------------------------------


@dataclass
class PriorFactors:
    """Full (untruncated) eigen-decompositions per Linear and diagonal Fisher per parameter,
    keyed by the names in the model they were measured on. This is what the cache holds;
    truncation (`energy`) is applied when they are used, so it is not part of the cache key."""

    output_eigs: dict[str, Eigenbasis]  # B per Linear
    input_eigs: dict[str, Eigenbasis]  # A per Linear (with the bias column when has_bias)
    has_bias: dict[str, bool]
    diagonal: dict[str, torch.Tensor]  # E[g^2] per parameter (not normalised)
    seconds: float = 0.0  # time spent measuring (0 when loaded from the cache)


def collect_prior_factors(model: nn.Module, batches: Iterable[dict], loss_fn: Callable[[nn.Module, dict], torch.Tensor],
                          mode: str = "kfac", amp: str = "none", progress: Optional[Callable[[int], None]] = None
                          ) -> PriorFactors:
    """Run forward/backward over `batches` with the model's weights unchanged and measure the
    K-FAC factors (mode "kfac": every nn.Linear; other parameters diagonal) or only the
    diagonal Fisher (mode "diag"). `loss_fn(model, batch)` returns the batch-mean loss."""
    if mode not in ("kfac", "diag"):
        raise ConfigError(f"srft.mode: {mode!r} is not one of 'kfac', 'diag'")
    start = time.perf_counter()
    linears = {n: m for n, m in model.named_modules() if type(m) is nn.Linear} if mode == "kfac" else {}
    covered = {_join(n, "weight") for n in linears} | {_join(n, "bias") for n, m in linears.items() if m.bias is not None}
    parameters = dict(model.named_parameters())
    diagonal = {n: p for n, p in parameters.items() if n not in covered}
    was_training = model.training
    flags = {n: p.requires_grad for n, p in parameters.items()}
    for p in parameters.values():
        p.requires_grad_(True)
    model.eval()  # the pretrained model's tangent space, deterministic (no drop-path): cacheable
    device = next(model.parameters()).device
    autocast_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp)
    collector = FactorCollector(linears, diagonal)
    try:
        with collector:
            for index, batch in enumerate(batches):
                model.zero_grad(set_to_none=True)
                batch_size = int(next(iter(batch.values())).shape[0])
                collector.set_grad_scale(batch_size)  # batch-mean loss -> per-sample gradients
                with torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
                    loss = loss_fn(model, batch)
                loss.float().backward()
                collector.add_batch(batch_size)
                if progress is not None:
                    progress(index + 1)
        input_moments, output_moments, diagonal_fisher = collector.factors()
    finally:
        model.zero_grad(set_to_none=True)
        for n, p in parameters.items():
            p.requires_grad_(flags[n])
        model.train(was_training)
    output_eigs = {n: Eigenbasis.of(m) for n, m in output_moments.items()}
    input_eigs: dict[str, Eigenbasis] = {}
    for name, moment in input_moments.items():  # q, k, v share A: decompose it once
        twin = next((o for o in input_eigs if torch.equal(input_moments[o], moment)), None)
        input_eigs[name] = input_eigs[twin] if twin is not None else Eigenbasis.of(moment)
    has_bias = {n: m.bias is not None for n, m in linears.items()}
    return PriorFactors(output_eigs, input_eigs, has_bias, diagonal_fisher, time.perf_counter() - start)


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def model_fingerprint(model: nn.Module) -> str:
    """sha256 over every parameter and buffer (name, dtype, shape, bytes)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        _hash_tensor(digest, name, tensor)
    return digest.hexdigest()


def _hash_tensor(digest, name: str, tensor: torch.Tensor) -> None:
    tensor = tensor.detach().cpu().contiguous().reshape(-1)
    digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
    if tensor.numel():
        digest.update(tensor.view(torch.uint8).numpy().tobytes())


def batches_fingerprint(batches: list[dict]) -> str:
    """sha256 over the tensors of the batches the prior is measured on (keys sorted)."""
    digest = hashlib.sha256()
    for batch in batches:
        for key in sorted(batch):
            value = batch[key]
            if isinstance(value, torch.Tensor):
                digest.update(f"{key}|{tuple(value.shape)}|".encode())
                _hash_tensor(digest, key, value)
    return digest.hexdigest()


def cache_key(model_hash: str, data_hash: str, mode: str, amp: str) -> str:
    return hashlib.sha256(f"srft-prior-v1|{model_hash}|{data_hash}|{mode}|{amp}".encode()).hexdigest()


def prior_key(model: nn.Module, batches: list[dict], mode: str, amp: str) -> str:
    """What identifies a prior: the RGB model's weights, the batches, the mode and the precision."""
    return cache_key(model_fingerprint(model), batches_fingerprint(batches), mode, amp)


def save_prior_factors(path: Path, factors: PriorFactors, key: str) -> Path:
    """Write the factors as safetensors with the key in the metadata (atomically)."""
    from safetensors.torch import save_file

    tensors: dict[str, torch.Tensor] = {}
    for name in factors.output_eigs:
        tensors[f"linear/{name}/output_values"] = factors.output_eigs[name].values
        tensors[f"linear/{name}/output_vectors"] = factors.output_eigs[name].vectors
        tensors[f"linear/{name}/input_values"] = factors.input_eigs[name].values
        tensors[f"linear/{name}/input_vectors"] = factors.input_eigs[name].vectors
    for name, fisher in factors.diagonal.items():
        tensors[f"diagonal/{name}"] = fisher
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    stored: set[int] = set()  # layers reading one tensor (q, k, v) share A's decomposition: store copies
    for name, tensor in tensors.items():
        if tensor.numel() and tensor.untyped_storage().data_ptr() in stored:
            tensors[name] = tensor.clone()
        if tensor.numel():
            stored.add(tensors[name].untyped_storage().data_ptr())
    metadata = {"key": key, "has_bias": json.dumps(factors.has_bias), "seconds": f"{factors.seconds:.3f}"}
    path.parent.mkdir(parents=True, exist_ok=True)
    # a name no other writer uses (two runs may measure the same prior at once), then an
    # atomic rename: a reader sees no file or a complete one, and the last writer wins
    handle, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    tmp = Path(tmp_name)
    try:
        save_file(tensors, str(tmp), metadata=metadata)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def load_prior_factors(path: Path, key: str) -> Optional[PriorFactors]:
    """The cached factors if `path` exists and was written for `key`; None otherwise. A cut
    or garbled cache file is a cache miss (said on stderr): the prior is measured again and
    the file rewritten."""
    from safetensors import safe_open

    if not path.is_file():
        return None
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            if metadata.get("key") != key:
                return None
            tensors = {k: handle.get_tensor(k) for k in handle.keys()}
        has_bias = json.loads(metadata["has_bias"])
    except Exception as exc:  # safetensors' SafetensorError for a cut or garbled file, OSError, ValueError
        return _unreadable(path, f"unreadable ({exc})")
    output_eigs, input_eigs, diagonal = {}, {}, {}
    for name in has_bias:
        prefix = f"linear/{name}/"
        try:
            output_eigs[name] = Eigenbasis(tensors[prefix + "output_values"], tensors[prefix + "output_vectors"])
            input_eigs[name] = Eigenbasis(tensors[prefix + "input_values"], tensors[prefix + "input_vectors"])
        except (KeyError, TypeError) as exc:
            return _unreadable(path, f"lacks {exc}")
    for k, v in tensors.items():
        if k.startswith("diagonal/"):
            diagonal[k[len("diagonal/"):]] = v
    return PriorFactors(output_eigs, input_eigs, has_bias, diagonal, 0.0)


def _unreadable(path: Path, why: str) -> None:
    print(f"note: SRFT prior cache {path}: {why}; measuring the prior again", file=sys.stderr)
    return None


def cached_prior_factors(model: nn.Module, batches: list[dict], loss_fn: Callable[[nn.Module, dict], torch.Tensor],
                         cache_dir: Optional[Path], mode: str = "kfac", amp: str = "none",
                         progress: Optional[Callable[[int], None]] = None, key: Optional[str] = None
                         ) -> tuple[PriorFactors, Optional[Path], bool]:
    """The prior factors for (model weights, batches, mode, amp): read from `cache_dir` when a
    file for that key exists, measured and written there otherwise. Returns
    (factors, cache path or None, whether the cache was used). `key`: `prior_key(...)` of the
    same arguments when the caller already has it."""
    if cache_dir is None:
        return collect_prior_factors(model, batches, loss_fn, mode, amp, progress), None, False
    key = key or prior_key(model, batches, mode, amp)
    path = Path(cache_dir).expanduser() / f"srft_prior_{key[:24]}.safetensors"
    cached = load_prior_factors(path, key)
    if cached is not None:
        return cached, path, True
    factors = collect_prior_factors(model, batches, loss_fn, mode, amp, progress)
    save_prior_factors(path, factors, key)
    return factors, path, False


# --------------------------------------------------------------------------------------
# Where the prior applies in the adapted model
# --------------------------------------------------------------------------------------


def _content_key(tensor: torch.Tensor) -> tuple:
    data = tensor.detach().cpu().contiguous().reshape(-1)
    digest = hashlib.sha256(data.view(torch.uint8).numpy().tobytes() if data.numel() else b"").hexdigest()
    return tuple(tensor.shape), str(tensor.dtype), digest


def _name_affinity(a: str, b: str) -> int:
    """Length of the common dotted suffix (a tie-break between equal-valued candidates); a
    leading `aux_` (dual_branch's X-branch copies: `aux_norm` of `norm`) does not count."""
    a_parts, b_parts = [p.removeprefix("aux_") for p in a.split(".")[::-1]], b.split(".")[::-1]
    count = 0
    for x, y in zip(a_parts, b_parts):
        if x != y:
            break
        count += 1
    return count


def match_by_value(tensors: dict[str, torch.Tensor], reference: dict[str, torch.Tensor]) -> dict[str, str]:
    """For each named tensor, the reference tensor holding the same values (same shape, dtype,
    bytes). An adapted model copies its RGB weights (both dual-branch branches, the fusion
    blocks, an aux patch embedding initialised from the RGB one), so equal values identify the
    RGB parameter it came from whatever the fusion names it. Ties (e.g. LayerNorm weights all
    ones in an untrained model) go to the longest common name suffix."""
    buckets: dict[tuple, list[str]] = {}
    for name, tensor in reference.items():
        buckets.setdefault(_content_key(tensor), []).append(name)
    matches = {}
    for name, tensor in tensors.items():
        candidates = buckets.get(_content_key(tensor), [])
        if candidates:
            matches[name] = max(candidates, key=lambda c: (_name_affinity(name, c), -abs(len(c) - len(name))))
    return matches


@dataclass
class LinearTarget:
    """One adapted Linear (or LoRA-wrapped Linear) and the prior it answers to."""

    name: str
    prior: LinearPrior
    weight: nn.Parameter  # full fine-tuning: the trainable weight; LoRA: the frozen base weight
    bias: Optional[nn.Parameter]
    initial: Optional[torch.Tensor]  # W_0 as [W | b] (full fine-tuning only)
    lora: Optional[nn.Module] = None  # the peft LoRA layer when the update is B A

    def delta(self) -> torch.Tensor:
        """dW (out, in') relative to the RGB weights."""
        if self.lora is None:
            return augmented(self.weight, self.bias) - self.initial
        down, up, scaling = _lora_parts(self.lora)
        update = scaling * (up.weight @ down.weight)  # (out, in)
        if self.prior.has_bias:
            update = torch.cat([update, update.new_zeros(update.shape[0], 1)], dim=1)
        return update

    @torch.no_grad()
    def shrink(self, strength: float) -> None:
        """The decoupled prior step on this layer's update."""
        delta = self.delta().float()
        shrunk = self.prior.shrink(delta, strength)
        if self.lora is None:
            new = (self.initial + shrunk).to(self.weight.dtype)
            in_features = self.weight.shape[1]
            if self.weight.requires_grad:
                self.weight.copy_(new[:, :in_features])
            if self.bias is not None and self.bias.requires_grad:
                self.bias.copy_(new[:, in_features])
            return
        down, up, scaling = _lora_parts(self.lora)
        target = shrunk[:, : down.weight.shape[1]]  # (out, in): the bias column is 0 for LoRA
        a = down.weight.float()  # (r, in)
        gram = a @ a.T  # (r, r)
        ridge = 1e-6 * float(gram.diagonal().mean().clamp_min(1e-12))
        solved = torch.linalg.solve(gram + ridge * torch.eye(gram.shape[0], device=gram.device), a @ target.T)
        up.weight.copy_((solved.T / scaling).to(up.weight.dtype))  # least squares with A fixed


def _lora_parts(layer: nn.Module) -> tuple[nn.Linear, nn.Linear, float]:
    """(A, B, scaling) of a peft LoRA layer's first active adapter."""
    adapter = layer.active_adapters[0] if hasattr(layer, "active_adapters") else "default"
    return layer.lora_A[adapter], layer.lora_B[adapter], float(layer.scaling[adapter])


def _is_lora_layer(module: nn.Module) -> bool:
    return hasattr(module, "base_layer") and hasattr(module, "lora_A") and hasattr(module, "lora_B")


@dataclass
class DiagonalTarget:
    name: str
    parameter: nn.Parameter
    initial: torch.Tensor
    significance: torch.Tensor  # normalised E[g^2], same shape

    @torch.no_grad()
    def shrink(self, strength: float) -> None:
        delta = self.parameter - self.initial
        self.parameter.copy_(self.initial + delta / (1.0 + strength * self.significance))

    def penalty(self) -> torch.Tensor:
        return 0.5 * (self.significance * (self.parameter - self.initial).square()).sum()


def _lora_and_plain_linears(model: nn.Module) -> tuple[dict[str, nn.Module], dict[str, nn.Linear]]:
    """(peft LoRA layers, plain nn.Linear layers outside them) of `model`, by name."""
    wrapped = {n: m for n, m in model.named_modules() if _is_lora_layer(m)}
    inside_lora = {f"{n}.base_layer" for n in wrapped}
    plain = {n: m for n, m in model.named_modules()
             if type(m) is nn.Linear and n not in inside_lora and not any(n.startswith(w + ".lora_") for w in wrapped)}
    return wrapped, plain


def match_prior(model: nn.Module, reference: nn.Module, factors: PriorFactors
                ) -> tuple[dict[str, str], dict[str, str]]:
    """Which RGB-model layer / parameter each part of `model` came from, by equal values.

    Returns (Linear or LoRA layer name -> reference Linear name, parameter name -> reference
    parameter name with a diagonal Fisher). Full fine-tuning: every trainable Linear whose
    weight (and bias) equals a reference Linear's; every other trainable parameter equal to a
    reference parameter with a diagonal Fisher. LoRA: each LoRA layer whose base weight equals
    a reference Linear. Must run on the model as it starts training (at W_0); a resumed run
    reads the mapping from its checkpoint instead (`SRFTMethod.load_state_dict`).
    """
    reference_linears = {n: m for n, m in reference.named_modules() if type(m) is nn.Linear}
    reference_params = dict(reference.named_parameters())
    wrapped, plain = _lora_and_plain_linears(model)
    weights = {n: m.weight for n, m in plain.items() if m.weight.requires_grad}
    weights.update({n: m.base_layer.weight for n, m in wrapped.items()})
    kfac_reference = {n: m.weight for n, m in reference_linears.items() if n in factors.output_eigs}
    linear_map: dict[str, str] = {}
    covered = set()
    for name, reference_name in match_by_value(weights, kfac_reference).items():
        layer = wrapped[name].base_layer if name in wrapped else plain[name]
        reference_bias = reference_linears[reference_name].bias
        if (layer.bias is None) != (reference_bias is None):
            continue
        if name not in wrapped:
            if layer.bias is not None and not torch.equal(layer.bias.detach().cpu(), reference_bias.detach().cpu()):
                continue
            covered.add(_join(name, "weight"))
            if layer.bias is not None:
                covered.add(_join(name, "bias"))
        linear_map[name] = reference_name
    # everything else that trains: diagonal Fisher
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad and n not in covered}
    trainable = {n: p for n, p in trainable.items() if ".lora_" not in n}
    diagonal_reference = {n: reference_params[n] for n in factors.diagonal if n in reference_params}
    return linear_map, match_by_value(trainable, diagonal_reference)


def attach_prior(model: nn.Module, reference: nn.Module, factors: PriorFactors, energy: float,
                 mapping: Optional[tuple[dict[str, str], dict[str, str]]] = None
                 ) -> tuple[list[LinearTarget], list[DiagonalTarget]]:
    """Map the prior measured on `reference` (the RGB model) onto `model` (the adapted one).

    `mapping` is `match_prior`'s (computed here when None). The anchors W_0 are the reference
    weights (equal to the adapted model's starting weights by construction of the mapping), so
    a resumed run rebuilds them exactly from its mapping. Priors are shared between the adapted
    layers that came from one reference layer (both branches of `dual_branch`).
    """
    linear_map, diagonal_map = mapping if mapping is not None else match_prior(model, reference, factors)
    reference_linears = {n: m for n, m in reference.named_modules() if type(m) is nn.Linear}
    reference_params = dict(reference.named_parameters())
    parameters = dict(model.named_parameters())
    device = next(model.parameters()).device
    wrapped, plain = _lora_and_plain_linears(model)
    priors: dict[str, LinearPrior] = {}

    def prior_for(reference_name: str) -> LinearPrior:
        if reference_name not in priors:
            priors[reference_name] = LinearPrior.from_factors(
                factors.output_eigs[reference_name], factors.input_eigs[reference_name], energy,
                factors.has_bias[reference_name]).to(device)
        return priors[reference_name]

    def check(name: str, reference_name: str, known: dict, reference_known: dict, what: str) -> None:
        if name not in known or reference_name not in reference_known:
            raise CheckpointError(f"srft: the saved prior mapping names {what} {name} -> {reference_name}, which the "
                                  "model or the RGB model does not have (was the config changed?)")

    linear_targets = []
    for name, reference_name in linear_map.items():
        check(name, reference_name, {**plain, **wrapped}, {n: 1 for n in factors.output_eigs if n in reference_linears},
              "the Linear")
        reference_layer = reference_linears[reference_name]
        if name in wrapped:
            base = wrapped[name].base_layer
            linear_targets.append(LinearTarget(name, prior_for(reference_name), base.weight, base.bias, None,
                                               lora=wrapped[name]))
            continue
        layer = plain[name]
        initial = augmented(reference_layer.weight, reference_layer.bias).detach().float().to(device).clone()
        if tuple(initial.shape) != (layer.weight.shape[0], layer.weight.shape[1] + (layer.bias is not None)):
            raise CheckpointError(f"srft: {name} does not have the shape of its RGB layer {reference_name}")
        linear_targets.append(LinearTarget(name, prior_for(reference_name), layer.weight, layer.bias, initial))
    diagonal_targets = []
    for name, reference_name in diagonal_map.items():
        check(name, reference_name, parameters, {n: 1 for n in factors.diagonal if n in reference_params}, "the parameter")
        parameter, anchor = parameters[name], reference_params[reference_name]
        if parameter.shape != anchor.shape:
            raise CheckpointError(f"srft: {name} does not have the shape of its RGB parameter {reference_name}")
        diagonal_targets.append(DiagonalTarget(name, parameter, anchor.detach().to(device, parameter.dtype).clone(),
                                               normalised_diagonal(factors.diagonal[reference_name]).to(device)))
    return linear_targets, diagonal_targets


# --------------------------------------------------------------------------------------
# The method
# --------------------------------------------------------------------------------------

RGB_KEYS = ("template_rgb", "search_rgb", "template_box", "search_box", "template_mask", "search_positive")


def prior_batches(batches: Iterable[dict], n_batches: int, batch_size: int) -> list[dict]:
    """`n_batches` batches of `batch_size` samples of the RGB stream, re-chunked from `batches`."""
    chunks: list[dict] = []
    for batch in batches:
        rgb = {k: v for k, v in batch.items() if k in RGB_KEYS and isinstance(v, torch.Tensor)}
        if "template_rgb" not in rgb:
            raise ConfigError("srft prior: a training batch has no 'template_rgb'")
        total = rgb["template_rgb"].shape[0]
        for start in range(0, total - batch_size + 1, batch_size):
            chunks.append({k: v[start:start + batch_size] for k, v in rgb.items()})
            if len(chunks) == n_batches:
                return chunks
    if not chunks:
        raise ConfigError(f"srft prior: the training data gave no batch of {batch_size} samples")
    raise ConfigError(f"srft prior: the training data gave only {len(chunks)} of srft.n_batches={n_batches} "
                      f"batches of {batch_size}; lower srft.n_batches")


class SRFTMethod(Method):
    """Significance-regularised fine-tuning on top of `full` or `lora` (see the module docstring)."""

    name = "srft"

    def __init__(self, config) -> None:
        super().__init__(config)
        self.settings = config.srft
        self.linear_targets: list[LinearTarget] = []
        self.diagonal_targets: list[DiagonalTarget] = []
        self.transfer = TransferSignificance(self.settings.ema, self.settings.hoyer)
        self.previous: dict[str, torch.Tensor] = {}
        self.learning_rate: Optional[float] = None  # the trainer sets the current lr; else config.train.lr
        self.prior_seconds = 0.0
        self.prior_cache: Optional[Path] = None
        self.prior_from_cache = False
        self.prior_key = ""  # prior_key(...) of the prior in use ("" when there is none)
        self.prior_mapping: tuple[dict[str, str], dict[str, str]] = ({}, {})  # match_prior's
        self._resume: Optional[dict] = None  # load_state_dict's state, used by before_training
        methods = list(getattr(config, "methods", []))
        if "full" not in methods and "lora" not in methods:
            raise ConfigError("methods: srft regularises a fine-tuning method; list it with one, "
                              "e.g. methods: [full, srft] or [lora, srft]")
        if "lora" in methods and self.settings.mode == "diag":
            raise ConfigError("srft.mode: 'diag' cannot act on a LoRA update B A; use 'kfac' with lora")
        kappa(0.0, self.settings.schedule, self.settings.kappa_constant)  # validate early

    # ---- hooks ----------------------------------------------------------------------

    def prepare(self, model: nn.Module) -> nn.Module:
        return model  # `full` or `lora` decides what trains

    def before_training(self, model: nn.Module, batches: Iterable[dict],
                        reference: Optional[nn.Module] = None,
                        loss_fn: Optional[Callable[[nn.Module, dict], torch.Tensor]] = None) -> None:
        """Measure (or load) the prior on the RGB model and attach it to `model`.

        `reference` (the RGB model the tracker starts from) and `loss_fn` default to
        `build_model` with `fusion: rgb` on the same pretrained weights, and the tracking loss.
        After `load_state_dict` (a resumed run) the mapping and the transfer EMA come from the
        checkpoint and the prior must have the checkpoint's key.
        """
        settings = self.settings
        resume = self._resume
        if settings.lambda_p > 0 and (settings.decoupled or settings.coupled):
            if reference is None:
                reference = rgb_reference_model(self.config, next(model.parameters()).device)
            if loss_fn is None:
                loss_fn = tracking_loss_fn(self.config)
            chunks = prior_batches(batches, settings.n_batches, settings.prior_batch_size)
            device = next(reference.parameters()).device
            chunks = [{k: v.to(device) for k, v in c.items()} for c in chunks]
            cache_dir = Path(settings.cache_dir).expanduser() if settings.cache_dir else None
            key = prior_key(reference, chunks, settings.mode, self.config.train.amp)
            if resume is not None and resume["prior_key"] != key:
                raise CheckpointError(
                    f"srft: the prior measured now (key {key[:12]}) is not the one the checkpoint was trained with "
                    f"(key {resume['prior_key'][:12] or 'none'}): model.pretrained, the training data or srft.mode "
                    "changed, so the run cannot be resumed")
            factors, self.prior_cache, self.prior_from_cache = cached_prior_factors(
                reference, chunks, loss_fn, cache_dir, settings.mode, self.config.train.amp, key=key)
            self.prior_seconds, self.prior_key = factors.seconds, key
            # a resumed model has moved away from W_0: its mapping comes from the checkpoint
            self.prior_mapping = ((dict(resume["linear_map"]), dict(resume["diagonal_map"])) if resume is not None
                                  else match_prior(model, reference, factors))
            self.linear_targets, self.diagonal_targets = attach_prior(model, reference, factors, settings.energy,
                                                                      self.prior_mapping)
            if not self.linear_targets and not self.diagonal_targets:
                raise ConfigError("srft: no trainable parameter of the model matches the RGB model's weights, so "
                                  "the prior protects nothing (was the model built from the same pretrained file?)")
        elif resume is not None and resume["prior_key"]:
            raise CheckpointError("srft: the checkpoint was trained with a prior but the config now has none "
                                  "(srft.lambda_p / coupled / decoupled changed)")
        self.previous = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
        if resume is not None:
            unknown = sorted(set(resume["transfer_ema"]) - set(self.previous))
            if unknown:
                raise CheckpointError(f"srft: the checkpoint's transfer significance names parameters that do not "
                                      f"train here, e.g. {unknown[:3]}")
            self.transfer.ema = {n: v.to(self.previous[n].device, torch.float32).clone()
                                 for n, v in resume["transfer_ema"].items()}
        self._resume = None

    def state_dict(self) -> dict:
        """The transfer EMA, the prior's identity (key) and the layer -> RGB layer mapping that
        rebuilds the anchors W_0 and the priors on resume (the factors themselves are measured or
        read from the cache again, and checked against the key). Parameters the model holds
        (the previous weights are the current ones after each step) are not repeated."""
        linear_map, diagonal_map = self.prior_mapping
        return {"format": 1, "prior_key": self.prior_key, "linear_map": dict(linear_map),
                "diagonal_map": dict(diagonal_map),
                "transfer_ema": {n: v.detach().cpu() for n, v in self.transfer.ema.items()}}

    def load_state_dict(self, state: dict) -> None:
        """Keep a checkpoint's `state_dict()` for the `before_training` of the resumed run."""
        needed = ("prior_key", "linear_map", "diagonal_map", "transfer_ema")
        if not state or any(k not in state for k in needed):
            raise CheckpointError("srft: the checkpoint holds no SRFT state (transfer significance, prior mapping), "
                                  "so the run cannot be resumed exactly; it was written by an older tracktune")
        if state.get("format") != 1:
            raise CheckpointError(f"srft: unknown SRFT state format {state.get('format')!r} in the checkpoint")
        self._resume = state

    def extra_losses(self, model: nn.Module, batch: dict, outputs: dict, progress: float) -> dict[str, torch.Tensor]:
        if not self.settings.coupled or not (self.linear_targets or self.diagonal_targets):
            return {}
        weight = kappa(progress, self.settings.schedule, self.settings.kappa_constant) * self.settings.lambda_p
        total = sum((t.prior.penalty(t.delta().float()) for t in self.linear_targets), torch.zeros(()))
        total = total + sum((t.penalty() for t in self.diagonal_targets), torch.zeros(()))
        return {"srft_prior": weight * total}

    @torch.no_grad()
    def after_step(self, model: nn.Module, progress: float) -> None:
        """Transfer damping toward the previous weights, then the decoupled prior step."""
        settings = self.settings
        weight = kappa(progress, settings.schedule, settings.kappa_constant)
        damping = (1.0 - weight) * settings.lambda_t
        seen_grad = False
        for name, parameter in model.named_parameters():
            if not parameter.requires_grad:
                continue
            if name not in self.previous:
                raise ConfigError(f"srft: parameter {name} started training after before_training")
            if parameter.grad is None:
                continue
            seen_grad = True
            significance = self.transfer.update(name, parameter.grad)
            if damping > 0:
                parameter.copy_(transfer_step(self.previous[name], parameter, significance, damping))
        if not seen_grad and self.previous:
            raise ConfigError("srft.after_step found no gradients: the trainer must call it after the optimiser "
                              "step and before zero_grad")
        if settings.decoupled and settings.lambda_p > 0:
            lr = self.learning_rate if self.learning_rate is not None else self.config.train.lr
            strength = lr * weight * settings.lambda_p
            if strength > 0:
                for target in self.linear_targets:
                    target.shrink(strength)
                for target in self.diagonal_targets:
                    target.shrink(strength)
        for name, parameter in model.named_parameters():
            if name in self.previous:
                self.previous[name].copy_(parameter)


def rgb_reference_model(config, device: torch.device) -> nn.Module:
    """The RGB model the adapted tracker starts from: same design and pretrained weights, fusion rgb."""
    import dataclasses

    from tracktune.model import build_model

    if config.model.pretrained is None:
        raise ConfigError("srft needs model.pretrained: its prior is measured on the pretrained RGB model")
    rgb_config = dataclasses.replace(config, model=dataclasses.replace(config.model, fusion="rgb"))
    return build_model(rgb_config).to(device)


def tracking_loss_fn(config) -> Callable[[nn.Module, dict], torch.Tensor]:
    """loss_fn(model, batch) -> the batch-mean tracking loss of the RGB model on the RGB stream."""
    from tracktune.train.losses import tracking_loss_fn as design_loss_fn

    return design_loss_fn(config)
