"""Getting an exported tracker ready to run: eval mode, the tracking precision's weights and
kernels, a private copy for the trackers.

`prepare_for_inference(model, precision)` is the last step before tracking (after
`Method.export` merged any LoRA); `inference_copy(model, precision)` does it on a copy, which is
what `Tracker` / `BatchedRunner` run (the caller's model is never changed). Precisions
(`tracktune.precision.INFERENCE_PRECISIONS`):

- `fp32`: eval mode only.
- `bf16` (and `fp16`, CUDA): weights in that dtype (no per-call casts, as autocast would do);
  on a CPU with oneDNN every `nn.Linear` becomes a `PackedLinear`: its weight is reordered once
  into oneDNN's blocked layout (`torch.ops.mkldnn._reorder_linear_weight`, what inductor's
  weight freezing does) and the MLP's GELU is fused into fc1. On the 2-core CPU we measured, a
  ViT-B step's GEMMs run about 25% faster that way (590 -> 750 GFLOP/s over 24 distinct
  768x3072 weights), because a plain bf16 `addmm` re-packs its weight on every call.
- `int8` (CPU, oneDNN): the bf16 model with every large `nn.Linear` outside the head (q, k, v,
  proj, fc1, fc2 of each block; SwiGLU's w12, w3) replaced by an `Int8Linear`: int8 weights
  with one symmetric scale per output channel, prepacked for oneDNN
  (`torch.ops.onednn.qlinear_prepack`), and uint8 activations quantised dynamically, with one
  asymmetric scale and zero point per sample (its min and max over the sample's tokens) on
  every call; the GEMM is oneDNN's `qlinear_pointwise` (the kernel PyTorch's X86 inductor
  quantizer lowers to: u8 x s8 -> s32 on VNNI / AMX, dequantised with both scales, bias and GELU
  fused, bf16 out). q, k, v share one quantisation and one GEMM (`QKVAttention`). The head,
  the patch embedding, norms, attention's own matmuls and small Linears (adapters, fewer than
  `INT8_MIN_FEATURES` inputs or outputs) stay bf16: they are a small share of the FLOPs and the
  score map is read from the head. One scale per sample (not per batch) keeps a sequence's
  boxes independent of what it is batched with; per-tensor (not per-token) activation scales
  are what oneDNN's kernel takes.

A prepared model is for inference only: `PackedLinear` / `Int8Linear` compute with packed
copies of their weights that neither `.to()` nor an optimiser updates. `PackedLinear` keeps the
dense weight and bias as buffers (so a bf16 model's `state_dict` keeps every name and value).

`GraphedForward` replays a CUDA graph of one forward per input shape (batch-1 tracking on
CUDA: the step is launch-bound, and a graph replay launches it once); the capture logic takes
the graph type as an argument so that it runs, with a stand-in graph, in CPU tests.
"""

from __future__ import annotations

import contextlib
import copy
import warnings

import torch
from torch import nn

from tracktune.errors import ConfigError
from tracktune.model.vit import Attention, Mlp, explicit_attention

# legacy `amp` names accepted by prepare_for_inference
_LEGACY = {"none": "fp32"}
# Linears with fewer input or output features than this stay bf16 in int8 (adapters, tiny models)
INT8_MIN_FEATURES = 128


def cpu_packing_available() -> bool:
    """oneDNN's packed bf16 linear runs here: the kernels are in this torch build and the CPU has
    what oneDNN's bf16 path needs (AVX-512 BW/VL/DQ or AVX-NE-CONVERT). Without them the reorder
    raises, so a bf16 tracker on such a CPU keeps plain bf16 Linears (emulated, slow: the
    `auto` precision picks fp32 there)."""
    return torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise") \
        and hasattr(torch.ops.mkldnn, "_reorder_linear_weight") and torch.ops.mkldnn._is_mkldnn_bf16_supported()


def int8_available() -> bool:
    """oneDNN's quantised linear (u8 x s8) is in this torch build."""
    return torch.backends.mkldnn.is_available() and hasattr(torch.ops, "onednn") \
        and hasattr(torch.ops.onednn, "qlinear_pointwise") and hasattr(torch.ops.onednn, "qlinear_prepack")


class PackedLinear(nn.Module):
    """A bf16 Linear with a oneDNN-prepacked weight and an optional fused GELU (inference only)."""

    def __init__(self, linear: nn.Linear, tokens_hint: int, activation: str = "none") -> None:
        super().__init__()
        if activation not in ("none", "gelu"):
            raise ValueError(f"unsupported fused activation {activation!r}")
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.activation = activation
        self.register_buffer("weight", linear.weight.detach().clone())
        self.register_buffer("bias", None if linear.bias is None else linear.bias.detach().clone())
        self.packed_weight = torch.ops.mkldnn._reorder_linear_weight(self.weight, tokens_hint)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        algorithm = "none" if self.activation == "gelu" else ""  # erf GELU, as nn.GELU()
        return torch.ops.mkldnn._linear_pointwise(tokens, self.packed_weight, self.bias, self.activation, [],
                                                  algorithm)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, activation={self.activation}"


def pack_linears(model: nn.Module, tokens_hint: int) -> nn.Module:
    """Replace every bf16 CPU `nn.Linear` of `model` with a `PackedLinear` (GELU MLPs: fused fc1)."""
    def packable(m: nn.Module) -> bool:
        return type(m) is nn.Linear and m.weight.dtype == torch.bfloat16 and m.weight.device.type == "cpu"

    for mlp in [m for m in model.modules() if isinstance(m, Mlp)]:
        if isinstance(mlp.act, nn.GELU) and mlp.act.approximate == "none" and packable(mlp.fc1):
            mlp.fc1 = PackedLinear(mlp.fc1, tokens_hint, activation="gelu")
            mlp.act = nn.Identity()
    _replace(model, packable, lambda linear: PackedLinear(linear, tokens_hint))
    return model


def _replace(model: nn.Module, select, build) -> None:
    targets = [(name, m) for name, m in model.named_modules() if select(m)]
    for name, module in targets:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, build(module))


# ---- int8 ------------------------------------------------------------------------------------


def quantize_weight(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(out, in) float -> int8 weight in [-127, 127] and float32 scale per output channel
    (symmetric: w ~ q * scale, scale = max |w| of the row / 127)."""
    weight = weight.detach().float()
    scale = weight.abs().amax(dim=1).clamp(min=1e-12) / 127.0
    return torch.round(weight / scale[:, None]).clamp(-127, 127).to(torch.int8), scale


def quantize_activation(rows: torch.Tensor):
    """(M, K) float -> (uint8 rows, scale, zero point): one asymmetric per-tensor quantisation over
    the rows' range (always containing 0, so that 0 is exact), q = clamp(round(x / scale) +
    zero_point, 0, 255), scale = (max - min) / 255, zero_point = round(-min / scale).

    With `torch.quantize_per_tensor_dynamic` (fbgemm's vectorised min/max and quantise; what
    `torch.ao.quantization.quantize_dynamic`'s Linear runs) the scale and zero point come back as
    Python numbers; the plain-op fallback (`quantize_activation_eager`, about 30% slower end to
    end here) returns them as tensors."""
    if not hasattr(torch, "quantize_per_tensor_dynamic"):
        return quantize_activation_eager(rows)
    with warnings.catch_warnings():  # quantized-tensor constructors are marked deprecated in 2.x
        warnings.filterwarnings("ignore", message=".*quantized tensor creation functions.*")
        quantised = torch.quantize_per_tensor_dynamic(rows.float(), torch.quint8, False)
    return quantised.int_repr(), quantised.q_scale(), quantised.q_zero_point()


def quantize_activation_eager(rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """`quantize_activation` with plain tensor ops: scale (float32) and zero point (int64) as
    scalar tensors."""
    low, high = torch.aminmax(rows)
    low, high = low.float().clamp(max=0.0), high.float().clamp(min=0.0)
    scale = ((high - low) / 255.0).clamp(min=1e-8)
    zero_point = torch.round(-low / scale).clamp(0, 255)
    quantised = torch.round(rows.float() / scale).add_(zero_point).clamp_(0, 255).to(torch.uint8)
    return quantised, scale, zero_point.to(torch.int64)


class Int8Linear(nn.Module):
    """Dynamically quantised Linear on oneDNN's u8 x s8 kernel (see the module docstring):
    (B, ..., in) bf16 -> (B, ..., out) bf16, one activation scale per leading-index sample."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, tokens_hint: int,
                 activation: str = "none", out_dtype: torch.dtype = torch.bfloat16) -> None:
        super().__init__()
        if activation not in ("none", "gelu"):
            raise ValueError(f"unsupported fused activation {activation!r}")
        self.out_features, self.in_features = weight.shape
        self.activation = activation
        self.out_dtype = out_dtype
        weight_int8, scale = quantize_weight(weight)
        self.register_buffer("weight_int8", weight_int8)
        self.register_buffer("weight_scale", scale)
        self.register_buffer("weight_zero_point", torch.zeros(self.out_features, dtype=torch.int64))
        self.register_buffer("bias", None if bias is None else bias.detach().float().clone())
        self.packed_weight = torch.ops.onednn.qlinear_prepack(weight_int8, [tokens_hint, self.in_features])

    @classmethod
    def from_linear(cls, linear: nn.Linear, tokens_hint: int, activation: str = "none") -> "Int8Linear":
        return cls(linear.weight, linear.bias, tokens_hint, activation)

    def dequantised_weight(self) -> torch.Tensor:
        """The weight the kernel multiplies by, as float32 (out, in)."""
        return self.weight_int8.float() * self.weight_scale[:, None]

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        algorithm = "none" if self.activation == "gelu" else ""
        samples = tokens.reshape(tokens.shape[0], -1, self.in_features) if tokens.dim() > 2 else tokens[None]
        outputs = []
        for rows in samples:  # one activation scale per sample: batching never changes a result
            quantised, scale, zero_point = quantize_activation(rows)
            kernel = torch.ops.onednn.qlinear_pointwise
            kernel = kernel.tensor if isinstance(scale, torch.Tensor) else kernel.default
            outputs.append(kernel(quantised, scale, zero_point, self.packed_weight, self.weight_scale,
                                  self.weight_zero_point, self.bias, 1.0, 0, self.out_dtype, self.activation, [None],
                                  algorithm))
        out = torch.stack(outputs) if len(outputs) > 1 else outputs[0][None]
        return out.reshape(*tokens.shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, activation={self.activation}"


class QKVAttention(nn.Module):
    """`vit.Attention` with q, k, v as one GEMM `qkv` (one activation quantisation instead of
    three); the same computation otherwise (explicit bf16 attention on CPU)."""

    def __init__(self, attention: Attention, qkv: nn.Module, proj: nn.Module) -> None:
        super().__init__()
        self.num_heads = attention.num_heads
        self.qkv = qkv
        self.proj = proj

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        batch, length, dim = tokens.shape
        heads = self.num_heads
        q, k, v = self.qkv(tokens).view(batch, length, 3, heads, dim // heads).permute(2, 0, 3, 1, 4).unbind(0)
        if q.device.type == "cpu" and q.dtype == torch.bfloat16:
            attended = explicit_attention(q, k, v)
        else:
            attended = torch.nn.functional.scaled_dot_product_attention(q, k, v)
        return self.proj(attended.transpose(1, 2).reshape(batch, length, dim))


def _large(linear: nn.Module) -> bool:
    return type(linear) is nn.Linear and min(linear.in_features, linear.out_features) >= INT8_MIN_FEATURES


def quantize_linears(model: nn.Module, tokens_hint: int) -> nn.Module:
    """The int8 step of `prepare_for_inference` (model already bf16 on CPU): fused-q/k/v
    attention, GELU-fused fc1, every other large Linear outside `head` -> `Int8Linear`."""
    head = getattr(model, "head", None)
    in_head = {id(m) for m in head.modules()} if isinstance(head, nn.Module) else set()

    def quantisable(m: nn.Module) -> bool:
        return _large(m) and id(m) not in in_head

    for name, attention in [(n, m) for n, m in model.named_modules() if type(m) is Attention]:
        if id(attention) in in_head or not all(_large(getattr(attention, p)) and getattr(attention, p).bias is not None
                                               for p in ("q", "k", "v")):
            continue
        weight = torch.cat([attention.q.weight, attention.k.weight, attention.v.weight])
        bias = torch.cat([attention.q.bias, attention.k.bias, attention.v.bias])
        proj = Int8Linear.from_linear(attention.proj, tokens_hint) if _large(attention.proj) else attention.proj
        fused = QKVAttention(attention, Int8Linear(weight, bias, tokens_hint), proj)
        parent_name, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent_name) if parent_name else model, child, fused)
    for mlp in [m for m in model.modules() if isinstance(m, Mlp) and id(m) not in in_head]:
        if isinstance(mlp.act, nn.GELU) and mlp.act.approximate == "none" and quantisable(mlp.fc1):
            mlp.fc1 = Int8Linear.from_linear(mlp.fc1, tokens_hint, activation="gelu")
            mlp.act = nn.Identity()
    _replace(model, quantisable, lambda linear: Int8Linear.from_linear(linear, tokens_hint))
    return model


# ---- preparation -----------------------------------------------------------------------------


def _tokens_hint(model: nn.Module) -> int:
    layout = getattr(model, "layout", None)
    return layout.template_len + layout.search_len if layout is not None else 256


def _device_of(model: nn.Module) -> torch.device:
    for tensor in list(model.parameters()) + list(model.buffers()):
        return tensor.device
    return torch.device("cpu")


def prepare_for_inference(model: nn.Module, precision: str = "bf16") -> nn.Module:
    """Eval mode and `precision`'s weights and kernels (see the module docstring): "fp32"
    (or the legacy "none"), "bf16" (CPU: packed GEMMs), "fp16" (CUDA), "int8" (CPU, oneDNN).
    Modifies and returns `model`; `inference_copy` leaves the caller's model alone."""
    precision = _LEGACY.get(precision, precision)
    if precision not in ("fp32", "bf16", "fp16", "int8"):
        raise ConfigError(f"precision must be fp32, bf16, fp16 or int8, not {precision!r}")
    device = _device_of(model)
    if precision == "int8" and (device.type != "cpu" or not int8_available()):
        raise ConfigError(f"precision int8 runs on CPU with oneDNN's quantised kernels (device {device}, "
                          f"kernels {'present' if int8_available() else 'absent'}); use bf16")
    if precision == "fp16" and device.type != "cuda":
        raise ConfigError("precision fp16 needs a CUDA device; use bf16 on CPU")
    model.eval()
    if precision == "fp32":
        return model.float()
    model.to(torch.float16 if precision == "fp16" else torch.bfloat16)
    if precision == "int8":
        quantize_linears(model, _tokens_hint(model))
    if device.type == "cpu" and precision in ("bf16", "int8") and cpu_packing_available():
        pack_linears(model, _tokens_hint(model))
    return model


def inference_copy(model: nn.Module, precision: str) -> nn.Module:
    """A prepared copy of `model` for tracking (the caller's model is not changed). An fp32
    model already in eval mode is returned as it is: there is nothing to change."""
    precision = _LEGACY.get(precision, precision)
    tensors = list(model.parameters()) + list(model.buffers())
    if precision == "fp32" and not model.training and all(not t.is_floating_point() or t.dtype == torch.float32
                                                           for t in tensors):
        return model
    return prepare_for_inference(copy.deepcopy(model), precision)


# ---- CUDA graphs -------------------------------------------------------------------------


class GraphedForward:
    """`model(**inputs)` replayed from a captured graph, one graph per input signature (names,
    shapes, dtypes). Inputs are copied into the graph's static tensors; outputs are cloned out of
    its static outputs (a later replay overwrites them).

    graph_type / capture / stream: `torch.cuda.CUDAGraph`, `torch.cuda.graph` and a side
    `torch.cuda.Stream` on CUDA (the defaults); tests pass stand-ins to run the same code on CPU.
    Tensors in the outputs' nested dicts are cloned; other values are returned as captured.
    """

    def __init__(self, model, graph_type=None, capture=None, stream_factory=None, warmup: int = 2) -> None:
        self.model = model
        self.graph_type = graph_type or torch.cuda.CUDAGraph
        self.capture = capture or torch.cuda.graph
        self.stream_factory = stream_factory or torch.cuda.Stream
        self.warmup = warmup
        self.graphs: dict[tuple, tuple] = {}

    @staticmethod
    def signature(inputs: dict) -> tuple:
        return tuple((name, tuple(t.shape), t.dtype, t.device) for name, t in sorted(inputs.items()))

    def _capture(self, inputs: dict):
        static = {name: t.clone() for name, t in inputs.items()}
        stream = self.stream_factory()
        with _on_stream(stream):  # warm-up off the capture (lazy init, autotuning) on a side stream
            for _ in range(self.warmup):
                self.model(**static)
        graph = self.graph_type()
        with self.capture(graph):
            outputs = self.model(**static)
        return graph, static, outputs

    def __call__(self, **inputs):
        key = self.signature(inputs)
        if key not in self.graphs:
            self.graphs[key] = self._capture(inputs)
        graph, static, outputs = self.graphs[key]
        for name, tensor in inputs.items():
            static[name].copy_(tensor)
        graph.replay()
        return _clone_tree(outputs)


def _on_stream(stream):
    if isinstance(stream, torch.cuda.Stream):
        stream.wait_stream(torch.cuda.current_stream())
        return torch.cuda.stream(stream)
    return contextlib.nullcontext()


def _clone_tree(value):
    if isinstance(value, torch.Tensor):
        return value.clone()
    if isinstance(value, dict):
        return {k: _clone_tree(v) for k, v in value.items()}
    return value
