"""The daemon at rest: `feedwatch run`'s CPU when every poll is a 304. The requirement: at
10,000 feeds and a 15-minute interval it keeps its schedule using under 5% of one core.

    .venv/bin/python bench/feeds/daemon_cpu.py --feeds 10000 --minutes 16

Starts the corpus server on 127.0.0.1 with one item per feed (so the first load is quick),
writes a feeds.yaml (defaults: {interval: 15m}, one alert rule, no notifier), runs
`feedwatch poll` once so that every feed has its ETag, then starts `feedwatch -q run`. After
a warm-up it samples the daemon's CPU time (utime + stime from /proc/PID/stat) over a window
of --minutes, which must cover one whole interval; every few seconds it also reads the
database (read-only) for feeds overdue, that is due more than 60 s ago. The server counts
the 304s it sends. Then SIGTERM, and the daemon must exit 0. Prints a Markdown table, the
daemon's CPU per minute of the window, and the server's own CPU.

--interval 2m --minutes 3 --profile out.prof runs a shorter version under cProfile.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
FEEDWATCH = str(Path(sys.executable).with_name("feedwatch"))
OVERDUE_SECONDS = 60.0
TICKS = os.sysconf("SC_CLK_TCK")


class Server:
    def __init__(self, feeds: int, items: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(HERE / "server.py"), "--feeds", str(feeds),
             "--items", str(items)],
            stdout=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        assert self.process.stdout is not None
        self.base = f"http://127.0.0.1:{int(self.process.stdout.readline())}"

    def check(self) -> None:
        code = self.process.poll()
        if code is not None:
            raise RuntimeError(f"the feed server exited with {code}: the run is void")

    def stats(self) -> dict[str, float]:
        self.check()
        with urllib.request.urlopen(self.base + "/_stats") as response:
            return json.loads(response.read())  # type: ignore[no-any-return]

    def close(self) -> None:
        self.process.terminate()
        self.process.wait()


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds of a process, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime: fields 14 and 15


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def stamp(moment: datetime) -> str:
    """A time as feedwatch stores it (fixed width, so text order is time order)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Schedule:
    """What the database says about the schedule, read while the daemon runs."""

    path: Path
    max_overdue: int = 0
    max_lag: float = 0.0
    conn: sqlite3.Connection = field(init=False)

    def __post_init__(self) -> None:
        self.conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=10.0)

    def overdue(self, now: datetime) -> int:
        late = stamp(now - timedelta(seconds=OVERDUE_SECONDS))
        (count,) = self.conn.execute(
            "SELECT count(*) FROM feeds WHERE active = 1 AND gone = 0 "
            "AND (next_poll_at IS NULL OR next_poll_at < ?)",
            [late],
        ).fetchone()
        return int(count)

    def sample(self) -> None:
        now = datetime.now(UTC)
        (oldest,) = self.conn.execute(
            "SELECT min(next_poll_at) FROM feeds WHERE active = 1 AND gone = 0"
        ).fetchone()
        if oldest is not None:
            due = datetime.strptime(oldest, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
            self.max_lag = max(self.max_lag, (now - due).total_seconds())
        self.max_overdue = max(self.max_overdue, self.overdue(now))

    def polled_since(self, since: datetime) -> int:
        (count,) = self.conn.execute(
            "SELECT count(*) FROM feeds WHERE last_polled_at >= ?", [stamp(since)]
        ).fetchone()
        return int(count)

    def first_due(self) -> datetime | None:
        (first,) = self.conn.execute("SELECT min(next_poll_at) FROM feeds").fetchone()
        if first is None:
            return None
        return datetime.strptime(first, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def write_config(folder: Path, base: str, feeds: int, interval: str) -> Path:
    config = folder / "feeds.yaml"
    lines = ["database: feedwatch.db", f"defaults: {{interval: {interval}}}", "feeds:"]
    lines += [f"  - {base}/feeds/{i}.{'atom' if i % 2 else 'rss'}" for i in range(feeds)]
    lines += ["alerts:", "  - name: bench", "    keywords: [Panama, mining, Peru]"]
    config.write_text("\n".join(lines) + "\n")
    return config


def log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--feeds", type=int, default=10000)
    parser.add_argument("--minutes", type=float, default=16.0, help="the measured window")
    parser.add_argument("--warmup", type=float, default=30.0, help="seconds before the window")
    parser.add_argument("--interval", default="15m", help="the feeds' interval, as in feeds.yaml")
    parser.add_argument("--items", type=int, default=1, help="items per feed on the server")
    parser.add_argument("--sample", type=float, default=5.0, help="seconds between samples")
    parser.add_argument("--profile", metavar="FILE", help="run the daemon under cProfile")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="feedwatch-daemon-"))
    server = Server(args.feeds, args.items)
    daemon: subprocess.Popen[bytes] | None = None
    try:
        config = write_config(folder, server.base, args.feeds, args.interval)
        log(f"server up at {server.base}; first load with `feedwatch poll`")
        started = time.perf_counter()
        done = subprocess.run([FEEDWATCH, "-q", "-c", str(config), "poll"],
                              capture_output=True, text=True)  # fmt: skip
        load_seconds = time.perf_counter() - started
        summary = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""
        if done.returncode != 0 or " 0 failed" not in summary:
            raise RuntimeError(f"feedwatch poll failed ({done.returncode}): {done.stderr[-2000:]}")
        log(f"loaded in {load_seconds:.1f} s: {summary}")

        command = [FEEDWATCH, "-q", "-c", str(config), "run"]
        if args.profile:
            profile = str(Path(args.profile).resolve())
            command = [sys.executable, "-m", "cProfile", "-o", profile, "-m", "feedwatch",
                       *command[1:]]  # fmt: skip
        daemon_log = (folder / "daemon.log").open("wb")
        daemon = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=daemon_log)
        pid = daemon.pid
        before_warmup = server.stats()
        time.sleep(args.warmup)
        if daemon.poll() is not None:
            raise RuntimeError(f"the daemon exited early with {daemon.returncode}")

        schedule = Schedule(folder / "feedwatch.db")
        window_start = datetime.now(UTC)
        first_due = schedule.first_due()
        at_start = server.stats()
        cpu_start = cpu_seconds(pid)
        t0 = time.perf_counter()
        samples = [(0.0, cpu_start)]
        window = args.minutes * 60
        if first_due is None or first_due < window_start:
            log(f"warning: a feed was due ({first_due}) before the window: shorten --warmup")
        log(f"window starts: {args.minutes:g} min; first feed due at {first_due}")
        next_log = 60.0
        while (elapsed := time.perf_counter() - t0) < window:
            time.sleep(min(args.sample, window - elapsed))
            if daemon.poll() is not None:
                raise RuntimeError(f"the daemon exited with {daemon.returncode} in the window")
            server.check()
            samples.append((time.perf_counter() - t0, cpu_seconds(pid)))
            schedule.sample()
            if samples[-1][0] >= next_log:
                log(f"{samples[-1][0] / 60:.0f} min: daemon CPU {samples[-1][1] - cpu_start:.2f} s")
                next_log += 60.0
        cpu_end = cpu_seconds(pid)
        wall = time.perf_counter() - t0
        at_end = server.stats()
        now = datetime.now(UTC)
        overdue = schedule.overdue(now)
        polled = schedule.polled_since(window_start)
        rss = peak_rss_mb(pid)

        stop_started = time.perf_counter()
        daemon.send_signal(signal.SIGTERM)
        try:
            code: int | str = daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
            code = "no exit within 30 s, killed"
        stop_seconds = time.perf_counter() - stop_started
        daemon_log.close()
        errors = [
            line
            for line in (folder / "daemon.log").read_text(errors="replace").splitlines()
            if " WARNING " in line or " ERROR " in line
        ]

        cpu = cpu_end - cpu_start
        served = int(at_end["not_modified"] - at_start["not_modified"])
        print(f"`feedwatch run`, all 304s; Python {sys.version.split()[0]}; "
              f"{os.cpu_count()} cores; {time.strftime('%Y-%m-%d')}"
              f"{'; under cProfile' if args.profile else ''}")  # fmt: skip
        print()
        print(
            "| feeds | interval | window min | CPU s | % of one core | 304s served "
            "| feeds polled in window | overdue feeds (end / max) | max lag s | peak RSS MB |"
        )
        print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        print(
            f"| {args.feeds:,} | {args.interval} | {wall / 60:.1f} | {cpu:.2f} | "
            f"{100 * cpu / wall:.2f}% | {served:,} | {polled:,} | "
            f"{overdue} / {schedule.max_overdue} | {schedule.max_lag:.1f} | {rss:.0f} |"
        )
        print()
        per_minute = []
        for minute in range(1, int((wall + 58) // 60) + 1):  # a last partial one of 2 s or more
            upto = [c for t, c in samples if t <= minute * 60]
            since = [c for t, c in samples if t <= (minute - 1) * 60]
            per_minute.append(f"{upto[-1] - since[-1]:.2f}")
        print(f"Daemon CPU s per minute of the window: {' '.join(per_minute)}")
        print(
            f"First load (`feedwatch poll`, {args.items} item(s) per feed): {load_seconds:.1f} s. "
            f"304s during the {args.warmup:g} s warm-up: "
            f"{int(at_start['not_modified'] - before_warmup['not_modified'])}; "
            f"200s in the window: {int(at_end['ok'] - at_start['ok'])}; "
            f"server CPU in the window: {at_end['cpu'] - at_start['cpu']:.2f} s."
        )
        print(
            f"SIGTERM: exit code {code} after {stop_seconds:.1f} s; "
            f"warnings and errors logged: {len(errors)}"
        )
        for line in errors[:5]:
            print(f"    {line}")
    finally:
        if daemon is not None and daemon.poll() is None:
            daemon.kill()
            daemon.wait()
        server.close()
        if args.keep:
            print(f"kept {folder}", file=sys.stderr)
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
