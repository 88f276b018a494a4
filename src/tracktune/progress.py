"""Progress reporting: a bar on a terminal, a few one-line status lines in a log, or nothing.

`progress_bar(total, desc, unit, mode)` is the one way tracktune shows progress. `mode`:
- `True` / `"auto"`: a tqdm bar when stderr is a terminal; otherwise (output redirected to a
  log) one plain status line at most every `STATUS_EVERY_S` seconds and one at the end, so a
  log holds a handful of lines per stage instead of hundreds of bar redraws;
- `"bar"`: the bar even when stderr is not a terminal (`--progress`);
- `"log"`: the status lines even on a terminal;
- `False` / `"off"` / `None`: nothing (`--no-progress`).

Commands take `--progress` / `--no-progress` (`add_progress_arguments`) and pass
`progress_mode(args)` down.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Optional, TextIO, Union

STATUS_EVERY_S = 30.0
Mode = Union[bool, str, None]
# what `True` / "auto" means in this process: the command line's --progress / --no-progress
# (set by `tracktune.cli.main` for the command it runs), so a bar deep inside a library call
# (the synthetic data generated on first use) obeys the flag too
_default = "auto"


def set_default(mode: str) -> str:
    """Set what `True` / "auto" resolves like ("auto", "bar", "log" or "off"); returns the old."""
    global _default
    if mode not in ("auto", "bar", "log", "off"):
        raise ValueError(f"progress default must be auto, bar, log or off, not {mode!r}")
    old, _default = _default, mode
    return old


def add_progress_arguments(parser: argparse.ArgumentParser) -> None:
    """`--progress` (force the bar) and `--no-progress` (show nothing); the default is a bar on a
    terminal and periodic one-line status otherwise."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--progress", dest="force_progress", action="store_true",
                       help="draw progress bars even when stderr is not a terminal")
    group.add_argument("--no-progress", action="store_true",
                       help="no progress output at all (default: a bar on a terminal, "
                            f"else a status line every {STATUS_EVERY_S:.0f} s)")


def progress_mode(args: argparse.Namespace) -> str:
    """"off", "bar" or "auto" from `--no-progress` / `--progress` (either may be absent)."""
    if getattr(args, "no_progress", False):
        return "off"
    if getattr(args, "force_progress", False):
        return "bar"
    return "auto"


def resolve(mode: Mode, stream: Optional[TextIO] = None) -> str:
    """"bar", "log" or "off" for `mode` on `stream` (default stderr)."""
    if mode is None or mode is False or mode == "off":
        return "off"
    if mode == "bar" or mode == "log":
        return mode
    if (mode is True or mode == "auto") and _default != "auto":
        return _default
    if mode is True or mode == "auto":
        stream = stream or sys.stderr
        isatty = getattr(stream, "isatty", None)
        try:
            return "bar" if isatty is not None and isatty() else "log"
        except ValueError:  # a closed stream
            return "log"
    raise ValueError(f"progress mode must be True, False, 'auto', 'bar', 'log' or 'off', not {mode!r}")


class StatusLines:
    """tqdm's `update` / `set_postfix` / `close` interface, written as a plain status line at
    most every `every` seconds (and once at `close`)."""

    def __init__(self, total: Optional[int], desc: str, unit: str, initial: int = 0, stream: Optional[TextIO] = None,
                 every: float = STATUS_EVERY_S, clock=time.monotonic) -> None:
        self.total, self.desc, self.unit = total, desc or "progress", unit
        self.n = initial
        self.start_n = initial
        self.stream = stream or sys.stderr
        self.every, self.clock = every, clock
        self.start = self.last = clock()
        self.postfix = ""
        self.closed = False
        self.lines = 0

    def _line(self) -> str:
        elapsed = self.clock() - self.start
        done = self.n - self.start_n
        rate = done / elapsed if elapsed > 0 else 0.0
        count = f"{self.n}/{self.total}" if self.total else f"{self.n}"
        percent = f" ({100.0 * self.n / self.total:.0f}%)" if self.total else ""
        eta = ""
        if self.total and rate > 0 and self.n < self.total:
            eta = f", about {_duration((self.total - self.n) / rate)} left"
        post = f", {self.postfix}" if self.postfix else ""
        return f"{self.desc}: {count} {self.unit}{percent} in {_duration(elapsed)} ({rate:.3g} {self.unit}/s){eta}{post}"

    def _emit(self) -> None:
        print(self._line(), file=self.stream, flush=True)
        self.lines += 1
        self.last = self.clock()

    def update(self, n: int = 1) -> None:
        self.n += n
        if self.clock() - self.last >= self.every:
            self._emit()

    def set_postfix(self, ordered_dict=None, refresh: bool = True, **kwargs) -> None:
        items = dict(ordered_dict or {}, **kwargs)
        self.postfix = ", ".join(f"{k}={v}" for k, v in items.items())

    def set_description(self, desc: str = "", refresh: bool = True) -> None:
        self.desc = desc

    def refresh(self) -> None:
        pass

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self.n > self.start_n:
                self._emit()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _Silent(StatusLines):
    def _emit(self) -> None:
        pass


def _duration(seconds: float) -> str:
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def progress_bar(total: Optional[int] = None, desc: str = "", unit: str = "it", mode: Mode = True,
                 initial: int = 0, stream: Optional[TextIO] = None):
    """A progress object with tqdm's `update(n)`, `set_postfix`, `close` (and context manager):
    a tqdm bar, `StatusLines`, or a silent one, as `mode` resolves (see the module docstring)."""
    kind = resolve(mode, stream)
    if kind == "bar":
        from tqdm import tqdm

        return tqdm(total=total, desc=desc or None, unit=unit, initial=initial, dynamic_ncols=True,
                    file=stream or sys.stderr)
    if kind == "log":
        return StatusLines(total, desc, unit, initial=initial, stream=stream)
    return _Silent(total, desc, unit, initial=initial, stream=stream)
