"""The package version, in one place (the package and its file writers read it)."""

__version__ = "0.1.0"
