"""The Plan: every per-environment decision, made once, as typed values (see `model`)."""

from generator.plan.build import plan
from generator.plan.model import Plan

__all__ = ["Plan", "plan"]
