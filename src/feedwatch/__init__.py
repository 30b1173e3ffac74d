"""feedwatch: watch RSS and Atom feeds for keywords and deliver each new match once."""

__version__ = "0.1.0"
