"""What every sandbox starts with for the areas issue 16 (part A) added: one place for seed.py to ask."""

from __future__ import annotations

from . import projects, roles


def base_data() -> dict:
    return {**projects.base_data(), **roles.base_data()}
