"""Fixtures for the phxpy tests."""

# The phoenix.js harness: a Node driver running the real clients, and a live twin server.
from tests.phoenixjs import make_twin, phoenix_version, phoenixjs, twin_server

__all__ = ["make_twin", "phoenix_version", "phoenixjs", "twin_server"]
