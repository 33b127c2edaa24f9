"""Errors of the control plane. Every error the controller raises derives from NveError."""

from __future__ import annotations


class NveError(Exception):
    """Base class of all control-plane errors."""
