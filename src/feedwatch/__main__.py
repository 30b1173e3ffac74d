"""The ``feedwatch`` command: ``python -m feedwatch`` and the installed script both start here.

Light on purpose: worker processes (workers.py) are spawned, and a spawned process imports
the parent's main script again before it runs anything; importing the CLI only inside
``main`` keeps pydantic, httpx and SQLite out of the workers.
"""

from __future__ import annotations


def main() -> int:
    """Run the command line."""
    import sys

    # httpx imports its own command-line client (click, rich, pygments) whenever they are
    # installed; feedwatch never runs it, and importing it cost 60 ms of every command
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
    from feedwatch.cli import main as cli_main

    return cli_main()


if __name__ == "__main__":
    raise SystemExit(main())
