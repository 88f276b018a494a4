"""A TraX server around `tracktune.track.Tracker`: what the VOT toolkit starts for a tracktune
checkpoint (`trackers.ini`'s `command`, written by `tracktune vot workspace`).

Protocol (the `vot-trax` package's `trax.server.Server`): the server announces rectangle
regions, images as file paths, and the channels the checkpoint reads (`channels_for`):
`color` for an RGB tracker, `color` + `depth` for RGB-D, `color` + `ir` for RGB-T. Each
`initialize` request carries the first frame's files and the target region (a rectangle; a
polygon is reduced to its bounding box); each `frame` request the next frame's files. Every
reply is one rectangle with the `confidence` property (the score before the window penalty;
1.0 on the initialisation frame), which the toolkit stores as `<seq>_001_confidence.value`.

Images are read as the training data was (`Sequence.frame`): colour as RGB, the auxiliary
file's stored values (16-bit depth stays 16-bit) through `to_three_channel` in the
checkpoint's modality, so depth is clipped, normalised and JET colour-mapped exactly as in
training. An auxiliary image whose size differs from the colour one is resized to it.

Sources: the TraX protocol as implemented by votchallenge/toolkit (`vot/tracker/trax.py`,
`TraxTrackerRuntime`: how the toolkit starts the command, sets `TRAX=1` and reads the
`confidence` property) and the `vot-trax` bindings' `Server` class; the request loop is our
own, not the toolkit's `vot.py` integration helper.
"""

from __future__ import annotations

import argparse
import sys

from tracktune.errors import ConfigError, DataError

# modality the checkpoint was trained on -> the VOT channel carrying it
AUX_CHANNELS = {"depth": "depth", "thermal": "ir"}
CHANNEL_SETS = {"rgb": ("color",), "rgbd": ("color", "depth"), "rgbt": ("color", "ir")}


def channels_for(config) -> tuple[str, ...]:
    """The TraX channels a checkpoint's tracker reads: color, plus its auxiliary modality's."""
    fusion_reads_aux = config.model.fusion != "rgb"
    if not fusion_reads_aux:
        return CHANNEL_SETS["rgb"]
    modality = config.data.modality
    if modality not in AUX_CHANNELS:
        raise ConfigError(f"data.modality {modality!r}: the VOT toolkit has no channel for it "
                          f"(it serves {', '.join(CHANNEL_SETS)}: color, depth, ir)")
    return ("color", AUX_CHANNELS[modality])


def channel_set_name(channels) -> str:
    return next(name for name, chans in CHANNEL_SETS.items() if tuple(chans) == tuple(channels))


def read_frame(images: dict, channels, modality: str):
    """(rgb HxWx3 uint8, aux HxWx3 uint8 or None) from a request's channel -> image dict."""
    import cv2

    from tracktune.data.modalities import to_three_channel
    from tracktune.data.sequence import read_image

    missing = [c for c in channels if c not in images]
    if missing:
        raise DataError(f"TraX request without the {', '.join(missing)} channel (got {', '.join(images)})")
    rgb = read_image(images["color"].path())
    if len(channels) == 1:
        return rgb, None
    aux = to_three_channel(read_image(images[channels[1]].path(), cv2.IMREAD_UNCHANGED), modality)
    if aux.shape[:2] != rgb.shape[:2]:
        aux = cv2.resize(aux, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_LINEAR)
    return rgb, aux


def region_to_xywh(region) -> list[float]:
    """A TraX rectangle (or polygon: its bounding box) -> [x, y, w, h]."""
    from trax.region import Polygon, Rectangle

    if isinstance(region, Rectangle):
        return [float(v) for v in region.bounds()]
    if isinstance(region, Polygon):
        points = [region[i] for i in range(region.size())]
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        return [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)]
    raise DataError(f"TraX initialisation region of type {type(region).__name__}: tracktune takes a rectangle")


def serve(model, channels, log=False) -> int:
    """Answer TraX requests on stdin / stdout (or the toolkit's socket) until it quits."""
    from trax import Image, Region, TraxStatus
    from trax.region import Rectangle
    from trax.server import Server

    from tracktune.track.tracker import Tracker

    config = model.config
    tracker = Tracker(model, config.track)
    modality = config.data.modality
    frames = 0
    with Server([Region.RECTANGLE], [Image.PATH], list(channels), tracker_name="tracktune",
                tracker_description=f"tracktune {config.name}", log=log) as server:
        while True:
            request = server.wait()
            if request.type == TraxStatus.QUIT:
                break
            rgb, aux = read_frame(request.image, channels, modality)
            if request.type == TraxStatus.INITIALIZE:
                if not request.objects:
                    raise DataError("TraX initialize request without a region")
                box = region_to_xywh(request.objects[0][0])
                tracker.init(rgb, box, aux)
                score = 1.0
            else:
                box, score = tracker.update(rgb, aux)
            frames += 1
            x, y, w, h = (float(v) for v in box)
            server.status([(Rectangle.create(x, y, w, h), {"confidence": float(score)})])
    return frames


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, metavar="RUN",
                        help="run directory, checkpoint directory, or (with --backend onnxruntime) a .onnx file")
    parser.add_argument("--backend", default="pytorch", choices=("pytorch", "onnxruntime"),
                        help="onnxruntime: --checkpoint is a `tracktune export onnx` file (CPU)")
    parser.add_argument("--channels", default=None, choices=sorted(CHANNEL_SETS),
                        help="check that the checkpoint reads these channels (written by `vot workspace`)")
    parser.add_argument("--device", default=None, help="cpu / cuda (default cuda if available)")
    parser.add_argument("--log", action="store_true", help="TraX protocol log on stderr")


def main(args: argparse.Namespace) -> int:
    import torch

    from tracktune.export.onnx import load_tracking_model

    # the TraX messages travel on the process's stdout (file descriptor 1, written by the C
    # library): anything Python would print goes to stderr instead
    sys.stdout = sys.stderr
    try:
        import trax  # noqa: F401
    except ImportError as exc:
        raise ConfigError(f"the TraX server needs the optional 'vot-trax' package: pip install 'tracktune[vot]' "
                          f"({exc})") from exc
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    model = load_tracking_model(args.checkpoint, args.backend, device=device)
    channels = channels_for(model.config)
    if args.channels and CHANNEL_SETS[args.channels] != channels:
        raise ConfigError(f"--channels {args.channels}: this checkpoint reads {', '.join(channels)}")
    serve(model, channels, log=args.log)
    return 0

