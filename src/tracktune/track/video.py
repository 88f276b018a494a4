"""`tracktune track --checkpoint CKPT --rgb VIDEO_OR_DIR [--aux VIDEO_OR_DIR --modality M]
--box x,y,w,h --out OUT.mp4 [--boxes OUT.txt]`: track one target through a video.

Input is a video file or a folder of frames (sorted by name). Writes the video with the box
and score drawn (mp4v) and, with `--boxes`, one `x,y,w,h` line per frame (frame 1 = the
given box). Without `--box` the box is drawn by hand (`cv2.selectROI`) where a display
exists. `--backend onnxruntime` tracks with a `tracktune export onnx` file as `--checkpoint`.
"""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path

import cv2
import numpy as np

from tracktune.cli_types import positive_float
from tracktune.data.annotations import write_boxes
from tracktune.data.modalities import to_three_channel
from tracktune.data.sequence import read_image
from tracktune.errors import DataError, TracktuneError
from tracktune.files import temporary_path
from tracktune.progress import add_progress_arguments, progress_bar, progress_mode

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, metavar="CKPT", help="run directory or checkpoint directory")
    parser.add_argument("--rgb", required=True, metavar="VIDEO_OR_DIR", help="RGB video file or folder of frames")
    parser.add_argument("--aux", metavar="VIDEO_OR_DIR", help="auxiliary video / frames, aligned with --rgb")
    parser.add_argument("--modality", choices=("thermal", "depth", "event"), default=None,
                        help="what --aux holds (default: the checkpoint's data.modality)")
    parser.add_argument("--rgb-only", action="store_true", help="feed the RGB frame as the auxiliary frame")
    parser.add_argument("--box", metavar="X,Y,W,H", help="first-frame box (default: draw it, needs a display)")
    parser.add_argument("--out", required=True, metavar="OUT.mp4", help="video with the track drawn")
    parser.add_argument("--boxes", metavar="OUT.txt", help="also write one x,y,w,h line per frame")
    parser.add_argument("--fps", type=positive_float, default=None, help="output frame rate (default: the input's, or 30)")
    parser.add_argument("--device", default=None, help="cpu / cuda (default cuda if available)")
    parser.add_argument("--backend", default="pytorch", choices=("pytorch", "onnxruntime"),
                        help="onnxruntime: --checkpoint is a `tracktune export onnx` file (CPU)")
    add_progress_arguments(parser)


def parse_box(text: str):
    try:
        values = [float(v) for v in text.replace(" ", "").split(",")]
    except ValueError:
        values = []
    if len(values) != 4 or not all(math.isfinite(v) for v in values) or not (values[2] > 0 and values[3] > 0):
        raise TracktuneError(f"--box '{text}': expected x,y,w,h with positive w and h")
    return values


def check_box_in_frame(box, text: str, width: int, height: int) -> None:
    """The first-frame box must overlap the frame (a box outside it tracks nothing)."""
    x, y, w, h = box
    if x >= width or y >= height or x + w <= 0 or y + h <= 0:
        raise TracktuneError(f"--box {text}: the box lies outside the {width}x{height} frame "
                             f"(x in [0, {width}), y in [0, {height}))")


def check_output_paths(args) -> None:
    """`--out` and `--boxes` must be file names (not folders), checked before any work."""
    for flag, value in (("--out", args.out), ("--boxes", args.boxes)):
        if value is not None and Path(value).is_dir():
            raise TracktuneError(f"{flag} {value}: is a directory; expected a file name to write")
    if args.boxes is not None and Path(args.boxes).resolve() == Path(args.out).resolve():
        raise TracktuneError(f"--boxes {args.boxes}: the same file as --out")


class FrameSource:
    """Frames of a video file or an image folder, as HxWx3 uint8 RGB (or the stored values
    with `raw=True`, for auxiliary images), with a known count and frame rate."""

    def __init__(self, path: str | Path, raw: bool = False) -> None:
        self.path = Path(path)
        self.raw = raw
        self.capture = None
        if self.path.is_dir():
            self.files = sorted(p for p in self.path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not self.files:
                raise DataError(f"{self.path}: no image files ({', '.join(IMAGE_SUFFIXES)})")
            self.count, self.fps = len(self.files), None
        elif self.path.is_file():
            self.capture = cv2.VideoCapture(str(self.path))
            if not self.capture.isOpened():
                raise DataError(f"{self.path}: cannot open as a video")
            self.count = int(self.capture.get(cv2.CAP_PROP_FRAME_COUNT)) or None
            self.fps = self.capture.get(cv2.CAP_PROP_FPS) or None
        else:
            raise DataError(f"{self.path}: no such video file or frame folder")

    def __iter__(self):
        if self.capture is None:
            for path in self.files:
                yield read_image(path, cv2.IMREAD_UNCHANGED) if self.raw else read_image(path)
            return
        while True:
            ok, frame = self.capture.read()
            if not ok:
                break
            yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)


def has_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def select_box(frame_rgb):
    """The first-frame box drawn by hand (cv2.selectROI); a TracktuneError without a display."""
    if not has_display():
        raise TracktuneError("no --box given and no display to draw one on: pass --box x,y,w,h")
    x, y, w, h = cv2.selectROI("tracktune: draw the target, then Enter", cv2.cvtColor(frame_rgb, cv2.COLOR_RGB2BGR))
    cv2.destroyAllWindows()
    if w <= 0 or h <= 0:
        raise TracktuneError("no box drawn: pass --box x,y,w,h")
    return [float(x), float(y), float(w), float(h)]


def draw(frame_rgb, box, score, index: int):
    """BGR frame with the box (and score, frame number) drawn, for the video writer."""
    image = cv2.cvtColor(frame_rgb, cv2.COLOR_RGB2BGR)
    x, y, w, h = (int(round(v)) for v in box)
    cv2.rectangle(image, (x, y), (x + w, y + h), (0, 255, 0), 2)
    label = f"#{index + 1}" + ("" if score is None else f"  {score:.2f}")
    cv2.putText(image, label, (x, max(12, y - 5)), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 255, 0), 1, cv2.LINE_AA)
    return image


def main(args: argparse.Namespace) -> int:
    # the command boundary: torch and the model load here, so `tracktune --help` stays fast
    import torch

    from tracktune.export.onnx import load_tracking_model
    from tracktune.track.tracker import Tracker

    check_output_paths(args)
    given_box = parse_box(args.box) if args.box else None
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    device = "cpu" if args.backend == "onnxruntime" else device  # onnxruntime's CPU provider
    model = load_tracking_model(args.checkpoint, args.backend, device=device)
    tracker = Tracker(model, model.config.track)
    needs_aux = tracker.core.needs_aux
    if needs_aux and args.aux is None and not args.rgb_only:
        raise TracktuneError(f"this checkpoint's model ({model.config.model.fusion} fusion) needs the auxiliary "
                             "video: pass --aux (and --modality), or --rgb-only")
    modality = args.modality or model.config.data.modality
    rgb_source = FrameSource(args.rgb)
    aux_source = FrameSource(args.aux, raw=True) if (args.aux and needs_aux and not args.rgb_only) else None
    aux_frames = iter(aux_source) if aux_source is not None else None
    out_path = Path(args.out)
    fps = args.fps or rgb_source.fps or 30.0
    writer, boxes = None, []
    bar = progress_bar(rgb_source.count, "tracking", "frame", progress_mode(args))
    with temporary_path(out_path, keep_suffix=True) as video_tmp:  # the video appears whole or not at all
        try:
            for index, frame in enumerate(rgb_source):
                aux = None
                if aux_frames is not None:
                    raw = next(aux_frames, None)
                    if raw is None:
                        raise DataError(f"--aux {args.aux} ends at frame {index} but --rgb {args.rgb} goes on")
                    aux = to_three_channel(raw, modality)
                    if aux.shape[:2] != frame.shape[:2]:
                        aux = cv2.resize(aux, (frame.shape[1], frame.shape[0]), interpolation=cv2.INTER_LINEAR)
                elif args.rgb_only and needs_aux:
                    aux = frame
                if index == 0:
                    box = given_box if given_box is not None else select_box(frame)
                    check_box_in_frame(box, args.box or "drawn", frame.shape[1], frame.shape[0])
                    tracker.init(frame, box, aux)
                    box, score = np.asarray(box, dtype=np.float64), None
                    height, width = frame.shape[:2]
                    writer = cv2.VideoWriter(str(video_tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
                    if not writer.isOpened():
                        raise TracktuneError(f"{out_path}: cannot open a video writer (mp4v)")
                else:
                    if frame.shape[:2] != (height, width):
                        raise DataError(f"{args.rgb}: frame {index + 1} is {frame.shape[1]}x{frame.shape[0]}, "
                                        f"the first {width}x{height}")
                    box, score = tracker.update(frame, aux)
                boxes.append(box)
                writer.write(draw(frame, box, score, index))
                bar.update(1)
        finally:
            bar.close()
            if writer is not None:
                writer.release()
        if not boxes:
            raise DataError(f"{args.rgb}: no frames")
    if args.boxes:
        write_boxes(Path(args.boxes), np.array(boxes))
    print(f"{len(boxes)} frames -> {out_path}" + (f", boxes -> {args.boxes}" if args.boxes else ""))
    return 0
