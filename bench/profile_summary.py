"""Where a process spent its time, from a py-spy raw (collapsed stacks) profile.

Each line of ``py-spy record -f raw`` is a stack, root first, ``;``-separated frames
``function (file:line)``, then a space and its sample count. A function's inclusive share is
the share of samples with the function anywhere on the stack (counted once per stack, so
recursion does not inflate it); its self share, the samples with it on top.

py-spy does not always tell parked threads from busy ones, so stacks that end where a thread
waits (an idle thread-pool worker, a condition wait) are counted apart as waiting, and
stacks that end in the event loop's own frame (with uvloop, C code: polling, or socket I/O
done in C) apart as the event loop. The ranking is over the rest, the busy Python
samples, and leaves out the frames every stack goes through (thread bootstrap, the event
loop's dispatch, the CLI) so that the top of it says something.
Run: .venv/bin/python bench/profile_summary.py PROFILE.raw [--top 15] [--rate 100]
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

_LINE_NUMBER = re.compile(r":\d+\)$")
WAITING = frozenset(
    {
        "_worker (concurrent/futures/thread.py)",  # an idle to_thread worker, in queue.get
        "Condition.wait (threading.py)",
        "Event.wait (threading.py)",
    }
)
EVENT_LOOP = frozenset({"Runner.run (asyncio/runners.py)", "BaseEventLoop.run_forever (asyncio/base_events.py)"})
# Files whose frames are on (nearly) every stack: not ranked.
PLUMBING = (
    "(threading.py)", "(concurrent/futures/thread.py)", "(<frozen runpy>)", "(typer/", "(click/",
    "(uvicorn/server.py)", "(uvicorn/main.py)", "(uvicorn/_compat.py)", "(asyncio/runners.py)", "(asyncio/base_events.py)",
    "(asyncio/events.py)", "(tidings/cli.py)", "(tidings/__main__.py)", "(<module>",
)  # fmt: skip


@dataclass(frozen=True)
class Profile:
    samples: int  # all
    waiting: int
    event_loop: int
    busy: int
    inclusive: Counter[str]  # over busy samples
    self: Counter[str]


def function_of(frame: str) -> str:
    """``name (file:line)`` -> ``name (file)``: one entry per function, not per line."""
    return _LINE_NUMBER.sub(")", frame)


def is_plumbing(function: str) -> bool:
    return any(marker in function for marker in PLUMBING) or function.startswith("<module>")


def read(path: Path) -> Profile:
    inclusive: Counter[str] = Counter()
    self: Counter[str] = Counter()
    total = waiting = event_loop = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        functions = [function_of(frame) for frame in stack.split(";")]
        total += samples
        if functions[-1] in WAITING:
            waiting += samples
            continue
        if functions[-1] in EVENT_LOOP:
            event_loop += samples
            continue
        for function in set(functions):
            inclusive[function] += samples
        self[functions[-1]] += samples
    return Profile(total, waiting, event_loop, total - waiting - event_loop, inclusive, self)


def summary(profile: Profile, top: int = 15, rate: float = 100) -> str:
    """The busy/waiting split and the ``top`` functions by inclusive share, in markdown."""

    def share(samples: int) -> str:
        return f"{100 * samples / max(profile.busy, 1):.1f}%"

    lines = [
        f"{profile.samples:,} samples at {rate:g} Hz ({profile.samples / rate:.1f} thread-seconds): "
        f"busy Python {profile.busy:,}, in the event loop's C code (polling, socket I/O) "
        f"{profile.event_loop:,}, waiting threads {profile.waiting:,}. Shares are of busy Python samples.",
        "",
        "| function | inclusive | self |",
        "|---|---:|---:|",
    ]
    ranked = [(f, n) for f, n in profile.inclusive.most_common() if not is_plumbing(f)][:top]
    lines += [f"| `{function}` | {share(samples)} | {share(profile.self[function])} |" for function, samples in ranked]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--rate", type=float, default=100, help="the sampling rate py-spy recorded at (-r)")
    args = parser.parse_args()
    profile = read(args.profile)
    print(summary(profile, args.top, args.rate))
    print()
    print("By self time:")
    for function, samples in profile.self.most_common(args.top):
        print(f"  {100 * samples / max(profile.busy, 1):5.1f}%  {function}")


if __name__ == "__main__":
    main()
