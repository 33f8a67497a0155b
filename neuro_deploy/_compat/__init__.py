"""Compatibility shims for third-party packages (installed code is never edited)."""
