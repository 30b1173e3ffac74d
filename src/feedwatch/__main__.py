"""``python -m feedwatch`` is the ``feedwatch`` command."""

from feedwatch.cli import main

raise SystemExit(main())
