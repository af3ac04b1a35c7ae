"""The one base class of every error a user can cause and fix.

The command line catches :class:`YoloSmolError` alone, prints its message on one line and
exits with status 2; anything else is a bug and keeps its traceback. Each part of the
package subclasses it where its errors arise (``ConfigError`` in ``config``, ``DataError``
in ``data.prepare``, ...), so a message can name the field or file and the fix.

It derives from ``ValueError`` so that code written against the earlier errors (all
``ValueError``) still catches them.
"""

from __future__ import annotations

__all__ = ["YoloSmolError"]


class YoloSmolError(ValueError):
    """A bad setting, file or input, reported in one line that says what to change."""
