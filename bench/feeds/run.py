"""The feed-polling benchmark: feedwatch against reader and an HTTP-only floor (issue 6).

    .venv/bin/python bench/feeds/run.py --feeds 1000 [--reader-python PATH] [--workers N]

For each system, a fresh server with the same seeded corpus, then three rounds: first (all
new), unchanged (all 304), 10% changed. Each `feedwatch poll` and floor round is a whole
process, start-up included; reader's rounds run inside one warm process. Prints a Markdown
table of wall time, feeds/s, new items/s, CPU seconds, peak RSS and the server's own CPU
(to show it is not the bottleneck), then the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROUNDS = ("first", "unchanged", "changed")
FEEDWATCH = str(Path(sys.executable).with_name("feedwatch"))


@dataclass
class Round:
    system: str
    name: str
    wall: float
    cpu: float
    new_items: int
    peak_rss_mb: float
    server_cpu: float


class Server:
    def __init__(self, feeds: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(HERE / "server.py"), "--feeds", str(feeds)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.base = f"http://127.0.0.1:{int(self.process.stdout.readline())}"

    def get(self, path: str) -> dict[str, float]:
        with urllib.request.urlopen(self.base + path) as response:
            return json.loads(response.read())  # type: ignore[no-any-return]

    def cpu(self) -> float:
        return self.get("/_stats")["cpu"]

    def close(self) -> None:
        self.process.terminate()
        self.process.wait()


def timed_process(
    command: list[str], env: dict[str, str] | None = None
) -> tuple[float, float, float, str]:
    """Run a command; its wall and CPU seconds, peak RSS (MB) and stdout."""
    wrapper = (
        "import json,resource,subprocess,sys,time;"
        "t=time.perf_counter();p=subprocess.run(sys.argv[1:],capture_output=True,text=True);"
        "w=time.perf_counter()-t;r=resource.getrusage(resource.RUSAGE_CHILDREN);"
        "print(json.dumps({'wall':w,'cpu':r.ru_utime+r.ru_stime,'rss':r.ru_maxrss/1024,"
        "'rc':p.returncode,'out':p.stdout[-2000:],'err':p.stderr[-2000:]}))"
    )
    done = subprocess.run([sys.executable, "-c", wrapper, *command], capture_output=True,
                          text=True, env=env, check=True)  # fmt: skip
    result = json.loads(done.stdout)
    if result["rc"] != 0:
        raise RuntimeError(f"{command[0]} failed: {result['err']}")
    return result["wall"], result["cpu"], result["rss"], result["out"] + result["err"]


def run_feedwatch(feeds: int, folder: Path) -> list[Round]:
    server = Server(feeds)
    config = folder / "feeds.yaml"
    lines = ["database: feedwatch.db", "defaults: {interval: 15m}", "feeds:"]
    lines += [f"  - {server.base}/feeds/{i}.{'atom' if i % 2 else 'rss'}" for i in range(feeds)]
    lines += ["alerts:", "  - name: bench", "    keywords: [Panama, mining, Peru]"]
    config.write_text("\n".join(lines) + "\n")
    rounds = []
    try:
        for name in ROUNDS:
            if name == "changed":
                server.get("/_change?share=0.1")
            before = server.cpu()
            wall, cpu, rss, out = timed_process([FEEDWATCH, "-q", "-c", str(config), "poll"])
            summary = out.rsplit("polled ", 1)[1].splitlines()[0]
            print(f"feedwatch {name}: polled {summary}", file=sys.stderr)
            new = int(summary.split(" failed, ")[1].split(" new item")[0])
            rounds.append(Round("feedwatch", name, wall, cpu, new, rss, server.cpu() - before))
    finally:
        server.close()
    return rounds


def run_floor(feeds: int, folder: Path) -> list[Round]:
    server = Server(feeds)
    state = folder / "floor-state.json"
    rounds = []
    try:
        for name in ROUNDS:
            if name == "changed":
                server.get("/_change?share=0.1")
            before = server.cpu()
            wall, cpu, rss, _ = timed_process(
                [sys.executable, str(HERE / "floor.py"), server.base, str(feeds), str(state)]
            )
            rounds.append(Round("floor", name, wall, cpu, 0, rss, server.cpu() - before))
    finally:
        server.close()
    return rounds


def run_reader(feeds: int, folder: Path, python: str, workers: int) -> list[Round]:
    server = Server(feeds)
    driver = subprocess.Popen(
        [python, str(HERE / "reader_driver.py"), server.base, str(feeds),
         str(folder / "reader.sqlite"), str(workers)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert driver.stdin is not None
    assert driver.stdout is not None
    rounds = []
    try:
        for name in ROUNDS:
            if name == "changed":
                server.get("/_change?share=0.1")
            before = server.cpu()
            driver.stdin.write("go\n")
            driver.stdin.flush()
            r = json.loads(driver.stdout.readline())
            rounds.append(Round("reader", name, r["wall"], r["cpu"], r["new_items"],
                                r["peak_rss_mb"], server.cpu() - before))  # fmt: skip
    finally:
        driver.stdin.close()
        driver.wait()
        server.close()
    return rounds


def table(results: list[Round], feeds: int) -> str:
    out = [
        "| system | round | wall s | feeds/s | new items/s | CPU s | peak RSS MB | server CPU s |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        out.append(
            f"| {r.system} | {r.name} | {r.wall:.2f} | {feeds / r.wall:,.0f} | "
            f"{r.new_items / r.wall:,.0f} | {r.cpu:.2f} | {r.peak_rss_mb:.0f} | "
            f"{r.server_cpu:.2f} |"
        )
    return "\n".join(out)


def ratios(results: list[Round]) -> str:
    by = {(r.system, r.name): r for r in results}
    out = [
        "| round | feedwatch/reader, feeds/s | feedwatch/reader, items/s | feedwatch/floor, time |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name in ROUNDS:
        fw, rd, fl = by.get(("feedwatch", name)), by.get(("reader", name)), by.get(("floor", name))
        if fw is None:
            continue
        speed = f"{rd.wall / fw.wall:.2f}x" if rd else "-"
        items = (
            f"{(fw.new_items / fw.wall) / (rd.new_items / rd.wall):.2f}x"
            if rd and rd.new_items
            else "-"
        )
        floor = f"{fw.wall / fl.wall:.2f}x" if fl else "-"
        out.append(f"| {name} | {speed} | {items} | {floor} |")
    return "\n".join(out)


def compile_feedwatch() -> None:
    """Write feedwatch's bytecode, as a regular pip install does (reader's is, in its venv).
    An editable install under PYTHONDONTWRITEBYTECODE, as on the CI machines, would otherwise
    compile every module in every `feedwatch poll` and floor process: about 0.1 s each."""
    import compileall

    import feedwatch

    compileall.compile_dir(Path(feedwatch.__file__).parent, quiet=1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--reader-python", default=os.environ.get("READER_PYTHON", ""))
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--only", choices=("feedwatch", "reader", "floor"), action="append")
    args = parser.parse_args()
    compile_feedwatch()
    systems = args.only or ["floor", "feedwatch", "reader"]
    folder = Path(tempfile.mkdtemp(prefix="feedwatch-bench-"))
    results: list[Round] = []
    try:
        for system in systems:
            if system == "feedwatch":
                results += run_feedwatch(args.feeds, folder)
            elif system == "floor":
                results += run_floor(args.feeds, folder)
            elif args.reader_python:
                results += run_reader(args.feeds, folder, args.reader_python, args.workers)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    cpu = os.cpu_count()
    print(f"{args.feeds} feeds; Python {sys.version.split()[0]}; {cpu} cores; "
          f"{time.strftime('%Y-%m-%d')}")  # fmt: skip
    print(table(results, args.feeds))
    print()
    print(ratios(results))


if __name__ == "__main__":
    main()
