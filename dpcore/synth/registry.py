"""Synthesizers by name, so flows and configuration can choose a method with a string."""

from __future__ import annotations

from typing import Any

from dpcore.synth.base import Synthesizer

METHODS = ("independent", "mst", "aim")


def get_synthesizer(method: str, **options: Any) -> Synthesizer:
    """A synthesizer for ``method`` (one of :data:`METHODS`) built with ``options``.

    ``mst`` and ``aim`` accept ``workload``, ``max_model_cells`` and ``time_budget_s``
    (plus method-specific tuning options); ``independent`` takes none. Every method takes
    ``calculus`` (:data:`dpcore.calculus.ZCDP`, the default, or :data:`~dpcore.calculus.PURE`).
    """
    key = method.strip().lower()
    if key == "aim":
        from dpcore.synth.aim import AIMSynthesizer

        return AIMSynthesizer(**options)
    if key == "mst":
        from dpcore.synth.mst import MSTSynthesizer

        return MSTSynthesizer(**options)
    if key == "independent":
        from dpcore.synth.independent import IndependentSynthesizer

        extra = sorted(set(options) - {"calculus"})
        if extra:
            raise ValueError(f"the independent synthesizer takes no options, got {extra}")
        return IndependentSynthesizer(**options)
    raise ValueError(f"unknown synthesis method {method!r}; choose one of {', '.join(METHODS)}")
