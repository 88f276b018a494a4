"""ONNX export of the merged inference model, its check against PyTorch, and the onnxruntime
tracking backend.

`export_onnx(model, out, precision)` writes the inference model that `load_tracker_model`
returns (any design, fusion and method: LoRA merged, adapters kept, FCTL's teacher gone) as
one ONNX graph:

- inputs (`input_names`): `template_rgb` (B, 3, Hz, Wz) uint8, `search_rgb` (B, 3, Hx, Wx)
  uint8, for a fusion that reads the auxiliary image `template_aux` / `search_aux` (same
  shapes, the auxiliary modality in its 3-channel training form), and `template_mask`
  (B, Gz_h, Gz_w) bool (the template cells the box touches); images are 0..255, the graph
  normalises them itself as the PyTorch model does;
- outputs (`OUTPUT_NAMES`): `score_logits` (B, Gh, Gw) raw, `boxes` (B, Gh, Gw, 4)
  normalised xyxy in the search crop: what the tracker decodes;
- a dynamic batch dimension ("batch"): `BatchedRunner` sends several targets per call;
- opset `OPSET` (18: the lowest torch's exporter emits, run natively by onnxruntime's CPU
  kernels since 1.14; LayerNormalization is one node from opset 17);
- metadata (`metadata_props`): the run's resolved config, so a `.onnx` file alone is enough
  to track with (`OnnxRuntimeModel`), the precision and the tracktune version.

Precisions: `fp32` (what torch exports); `fp16`: weights and activations in float16 with
float32 inputs / outputs kept (onnxruntime's own `transformers.float16` converter), meant for
GPUs, slow on most CPUs; `int8`: dynamic quantisation of the MatMul / Gemm weights
(onnxruntime's `quantize_dynamic`, int8 weights, activations quantised per call), meant for
CPUs. The check (`compare`) runs the file with onnxruntime and the PyTorch model on the same
inputs and reports the largest absolute difference per output; fp32 matches to ~1e-6 on our
configs, fp16 / int8 trade accuracy for speed (their difference is printed, not hidden).

`OnnxRuntimeModel` presents an onnxruntime session with the attributes `TrackingCore` reads
from a `TrackerModel` (`template_size`, `search_size`, grids, `fusion_module.needs_aux`,
`config`, `device`) and a call with the model's keyword arguments returning the model's
output dict, so `run`, `track` and the benchmark track a deployed model through the same
crops and decoding (`load_tracking_model(path, backend)`).

Sources: the export follows torch's `torch.onnx.export` (dynamo exporter) documentation and
onnxruntime's quantisation / float16 tools; nothing is copied from a tracker repository.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Optional

import numpy as np
import torch
from torch import nn

from tracktune.errors import CheckpointError, ConfigError
from tracktune.files import atomic_write_with

OPSET = 18
PRECISIONS = ("fp32", "fp16", "int8")
OUTPUT_NAMES = ("score_logits", "boxes")
BACKENDS = ("pytorch", "onnxruntime")
META_CONFIG = "tracktune.config"
META_PRECISION = "tracktune.precision"
META_VERSION = "tracktune.version"
META_SOURCE = "tracktune.checkpoint"
PROTOBUF_LIMIT = 2 ** 31 - 1
EXAMPLE_BATCH = 5  # one ONNX file (no external data) holds at most 2 GiB


def _require(module: str):
    try:
        return __import__(module, fromlist=["_"])
    except ImportError as exc:
        raise ConfigError(f"ONNX export and the onnxruntime backend need the optional '{module}' package: "
                          f"pip install 'tracktune[onnx]' ({exc})") from exc


def needs_aux(model) -> bool:
    return bool(getattr(model.fusion_module, "needs_aux", False))


def input_names(model) -> list[str]:
    """The graph's input names, in order (aux images only where the fusion reads them)."""
    aux = ["template_aux", "search_aux"] if needs_aux(model) else []
    return ["template_rgb", "search_rgb", *aux, "template_mask"]


class _Graph(nn.Module):
    """The exported function: named image inputs -> (score_logits, boxes)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def outputs(self, out: dict):
        return out["score_logits"].float(), out["boxes"].float()


class _RgbGraph(_Graph):
    def forward(self, template_rgb, search_rgb, template_mask):
        return self.outputs(self.model(template_rgb=template_rgb, search_rgb=search_rgb, template_mask=template_mask))


class _AuxGraph(_Graph):
    def forward(self, template_rgb, search_rgb, template_aux, search_aux, template_mask):
        return self.outputs(self.model(template_rgb=template_rgb, search_rgb=search_rgb, template_aux=template_aux,
                                       search_aux=search_aux, template_mask=template_mask))


def example_inputs(model, batch: int = 2, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random uint8 crops and a template mask of the box's cells (a centred box of random
    size, as `TrackingCore.init_state` would give), keyed by input name."""
    generator = torch.Generator().manual_seed(seed)
    zs, xs = model.template_size, model.search_size
    zh, zw = model.template_grid

    def image(size):
        return torch.randint(0, 256, (batch, 3, size, size), generator=generator, dtype=torch.uint8)

    inputs = {"template_rgb": image(zs), "search_rgb": image(xs)}
    if needs_aux(model):
        inputs["template_aux"], inputs["search_aux"] = image(zs), image(xs)
    mask = torch.zeros(batch, zh, zw, dtype=torch.bool)
    for b in range(batch):
        half_h = int(torch.randint(1, zh // 2 + 1, (1,), generator=generator))
        half_w = int(torch.randint(1, zw // 2 + 1, (1,), generator=generator))
        mask[b, zh // 2 - half_h: zh // 2 + half_h, zw // 2 - half_w: zw // 2 + half_w] = True
    inputs["template_mask"] = mask
    return {name: inputs[name] for name in input_names(model)}


def _float_model(model: nn.Module) -> nn.Module:
    dtypes = {p.dtype for p in model.parameters()} | {b.dtype for b in model.buffers() if b.is_floating_point()}
    if dtypes - {torch.float32}:
        raise ConfigError(f"ONNX export needs the float32 model (load_tracker_model's); this one holds {dtypes}")
    return model.eval().cpu()


def export_onnx(model: nn.Module, out: str | Path, precision: str = "fp32", opset: int = OPSET,
                source: str = "") -> Path:
    """Write `model` (a float32 inference model, `load_tracker_model`'s) to `out` as ONNX in
    `precision`; its config (`model.config`) goes into the file's metadata."""
    if precision not in PRECISIONS:
        raise ConfigError(f"--precision: unknown '{precision}' (choose from {', '.join(PRECISIONS)})")
    onnx = _require("onnx")
    _require("onnxscript")  # torch's exporter translates through it
    model = _float_model(model)
    names = input_names(model)
    graph = (_AuxGraph if needs_aux(model) else _RgbGraph)(model).eval()
    # an example batch no other dimension shares: the exporter would unify equal sizes
    example = example_inputs(model, batch=EXAMPLE_BATCH)
    size = sum(p.numel() * p.element_size() for p in model.parameters())
    if size > PROTOBUF_LIMIT * 0.9:
        raise ConfigError(f"the model's weights ({size / 2**30:.1f} GiB) exceed one ONNX file's 2 GiB limit")
    batch = torch.export.Dim("batch", min=1, max=1024)
    dynamic = {name: {0: batch} for name in names}
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".export-", dir=out.parent) as staging:
        fp32_path = Path(staging) / "fp32.onnx"
        with torch.no_grad():
            torch.onnx.export(graph, tuple(example[n] for n in names), str(fp32_path), input_names=names,
                              output_names=list(OUTPUT_NAMES), opset_version=opset, dynamo=True,
                              dynamic_shapes=dynamic, external_data=False, verbose=False)
        if precision == "int8":
            quantization = _require("onnxruntime.quantization")
            int8_path = Path(staging) / "int8.onnx"
            quantization.quantize_dynamic(str(fp32_path), str(int8_path), weight_type=quantization.QuantType.QInt8)
            proto = onnx.load(str(int8_path))
        else:
            proto = onnx.load(str(fp32_path))
            if precision == "fp16":
                float16 = _require("onnxruntime.transformers.float16")
                proto = float16.convert_float_to_float16(proto, keep_io_types=True)
    static = [i.name for i in proto.graph.input if not i.type.tensor_type.shape.dim[0].dim_param]
    if static:
        raise ConfigError(f"ONNX export: the batch dimension of {', '.join(static)} came out static; "
                          f"this model's forward fixes its batch size somewhere")
    from tracktune import __version__

    config = getattr(model, "config", None)
    props = {META_PRECISION: precision, META_VERSION: __version__, META_SOURCE: str(source)}
    if config is not None:
        from tracktune.config import to_dict

        props[META_CONFIG] = json.dumps(to_dict(config))
    onnx.helper.set_model_props(proto, props)
    return atomic_write_with(out, lambda tmp: onnx.save(proto, str(tmp)))


# --------------------------------------------------------------------------------------
# onnxruntime
# --------------------------------------------------------------------------------------


def session(path: str | Path, threads: Optional[int] = None):
    """An onnxruntime CPU session on `path` (`threads` intra-op threads; default torch's count)."""
    ort = _require("onnxruntime")
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"ONNX model not found: {path}")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or torch.get_num_threads()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types for unreadable models
        raise CheckpointError(f"{path}: onnxruntime cannot load it ({type(exc).__name__}: {exc})") from exc


def run_session(sess, inputs: dict) -> dict[str, np.ndarray]:
    """Run a session on torch or numpy inputs keyed by name -> outputs keyed by name."""
    feed = {}
    for i in sess.get_inputs():
        value = inputs[i.name].cpu().numpy() if torch.is_tensor(inputs[i.name]) else np.asarray(inputs[i.name])
        if i.type == "tensor(uint8)" and value.dtype != np.uint8:
            # the graph takes uint8 images; a pipeline with float crops (lorat) is rounded to them,
            # a departure of at most half a grey level from PyTorch's float input
            value = np.clip(np.rint(value), 0, 255).astype(np.uint8)
        feed[i.name] = np.ascontiguousarray(value)
    values = sess.run(None, feed)
    return {o.name: v for o, v in zip(sess.get_outputs(), values)}


def compare(model: nn.Module, onnx_path: str | Path, batch: int = 2, seed: int = 1, sess=None) -> dict:
    """The largest absolute difference between onnxruntime's and PyTorch's (float32) outputs on
    the same random inputs, per output, and each output's largest magnitude (for scale)."""
    sess = sess or session(onnx_path)
    inputs = example_inputs(model, batch=batch, seed=seed)
    with torch.inference_mode():
        reference = model(**inputs)
    got = run_session(sess, inputs)
    report = {}
    for name in OUTPUT_NAMES:
        ours = reference[name].float().cpu().numpy()
        if got[name].shape != ours.shape:
            raise CheckpointError(f"{onnx_path}: output {name} has shape {got[name].shape}, PyTorch's {ours.shape}")
        report[name] = {"max_abs_diff": float(np.max(np.abs(got[name].astype(np.float64) - ours))),
                        "max_abs": float(np.max(np.abs(ours)))}
    return report


def frames_per_second(model: nn.Module, sess, batch: int = 1, rounds: int = 10, amps=("none", "bf16")) -> dict:
    """Forward passes per second (x batch = frames per second) of onnxruntime and of PyTorch
    under each autocast in `amps` ("none": float32, what the fp32 graph computes; "bf16": the
    tracker's default) on the same inputs, measured in one run with the variants alternating
    each round (so load on a shared machine hits all alike); the median round of each.
    Keys: "onnxruntime", "pytorch_fp32", "pytorch_bf16"."""
    from tracktune.precision import autocast_context

    inputs = example_inputs(model, batch=batch, seed=2)
    feed = {k: v.numpy() for k, v in inputs.items()}

    def torch_step(amp):
        def step():
            with torch.inference_mode(), autocast_context("cpu", amp):
                model(**inputs)
        return step

    variants = {"onnxruntime": lambda: sess.run(None, feed)}
    for amp in amps:
        variants["pytorch_fp32" if amp == "none" else f"pytorch_{amp}"] = torch_step(amp)
    for step in variants.values():  # warm-up
        step()
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, step in variants.items():
            start = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - start)
    return {name: round(batch / float(np.median(t)), 2) for name, t in times.items()}


class OnnxRuntimeModel:
    """An exported `.onnx` tracker presented as the model `TrackingCore` expects.

    Calls take the model's keyword arguments (torch tensors) and return
    `{"score_logits", "boxes"}` as float32 CPU tensors. `config` is the run's config from the
    file's metadata; sizes and grids come from it and are checked against the graph's inputs.
    """

    is_onnx = True

    def __init__(self, path: str | Path, threads: Optional[int] = None) -> None:
        self.path = Path(path)
        self.session = session(self.path, threads)
        props = self.session.get_modelmeta().custom_metadata_map
        if META_CONFIG not in props:
            raise CheckpointError(f"{self.path}: no tracktune config in its metadata (not written by "
                                  f"`tracktune export onnx`?)")
        from tracktune.config import ExperimentConfig, from_dict

        self.config = from_dict(ExperimentConfig, json.loads(props[META_CONFIG]), f"{self.path}:metadata")
        self.precision = props.get(META_PRECISION, "fp32")
        model_config = self.config.model
        self.patch_size, self.design = model_config.patch_size, model_config.design
        self.template_size, self.search_size = model_config.template_size, model_config.search_size
        self.template_grid = (self.template_size // self.patch_size,) * 2
        self.search_grid = (self.search_size // self.patch_size,) * 2
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.fusion_module = SimpleNamespace(needs_aux="template_aux" in self.input_names)
        self.device = torch.device("cpu")
        shapes = {i.name: list(i.shape) for i in self.session.get_inputs()}
        expected = {"template_rgb": [3, self.template_size, self.template_size],
                    "search_rgb": [3, self.search_size, self.search_size],
                    "template_mask": list(self.template_grid)}
        for name, shape in expected.items():
            if name not in shapes or shapes[name][1:] != shape:
                raise CheckpointError(f"{self.path}: input {name} is {shapes.get(name)}, its config says [batch, "
                                      f"{', '.join(map(str, shape))}]")

    def eval(self) -> "OnnxRuntimeModel":
        return self

    def parameters(self):
        """No trainable parameters; one empty CPU tensor for code that asks for the device."""
        yield torch.empty(0)

    def __call__(self, template_rgb, search_rgb, template_aux=None, search_aux=None, template_mask=None,
                 **ignored) -> dict:
        inputs = {"template_rgb": template_rgb, "search_rgb": search_rgb, "template_aux": template_aux,
                  "search_aux": search_aux, "template_mask": template_mask}
        missing = [n for n in self.input_names if inputs.get(n) is None]
        if missing:
            raise ConfigError(f"{self.path}: the exported model needs {', '.join(missing)}")
        outputs = run_session(self.session, {n: inputs[n] for n in self.input_names})
        return {name: torch.from_numpy(outputs[name]) for name in OUTPUT_NAMES}

    def __repr__(self) -> str:
        return f"OnnxRuntimeModel({str(self.path)!r}, precision={self.precision})"


def load_tracking_model(path: str | Path, backend: str = "pytorch", device=None):
    """The model a tracker runs: `load_tracker_model(path)` for "pytorch"; for "onnxruntime",
    an `OnnxRuntimeModel` on the `.onnx` file `path` (CPU). Either has `.config`."""
    if backend not in BACKENDS:
        raise ConfigError(f"--backend: unknown '{backend}' (choose from {', '.join(BACKENDS)})")
    if backend == "onnxruntime":
        path = Path(path)
        if path.is_dir():
            raise CheckpointError(f"--backend onnxruntime takes an exported .onnx file, not the run {path}: "
                                  f"export it first with `tracktune export onnx --checkpoint {path} --out MODEL.onnx`")
        return OnnxRuntimeModel(path)
    from tracktune.runs import load_tracker_model

    return load_tracker_model(path, device=device or "cpu")


__all__ = ["OPSET", "PRECISIONS", "OUTPUT_NAMES", "BACKENDS", "input_names", "example_inputs", "export_onnx",
           "session", "run_session", "compare", "frames_per_second", "OnnxRuntimeModel", "load_tracking_model"]
