"""``python -m feedwatch`` is the ``feedwatch`` command."""

from feedwatch.cli import main

if __name__ == "__main__":  # worker processes (workers.py) import this module as __mp_main__
    raise SystemExit(main())
