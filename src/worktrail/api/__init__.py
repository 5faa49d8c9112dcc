"""The HTTP application: native API under /api/v1 (the vendor dialects mount beside it)."""

from .app import create_app

__all__ = ["create_app"]
