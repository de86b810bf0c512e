"""The names the model and the CLI share: views, architectures, experts, the paper's ablations, training's precisions.

Pure Python (no numpy), so the command line can offer them as choices without slowing ``microfuse --help``.
"""

from __future__ import annotations

#: The views ``embed`` computes: one protein view, one or more (comma-joined) context views.
PROTEIN_VIEWS = ("builtin", "prostt5")
CONTEXT_VIEWS = ("builtin", "bacformer")

ARCHS = ("microfuse", "concat", "protein", "context")

#: The arithmetic training may run in (TrainConfig.precision, `microfuse train --precision`); weights are saved as
#: float32 either way.
PRECISIONS = ("float32", "float64")

#: The experts of the MicroFuse head, in the order of the router's weights everywhere in microfuse.
EXPERTS = ("protein", "context", "agreement", "conflict")

#: The paper's named ablations: the switches each one turns off (everything else stays as in the full model).
#: ``"full"`` is the name of the model with nothing turned off (``microfuse train --ablation`` takes these names;
#: it accepts the old ``none`` as an alias).
ABLATIONS: dict[str, dict[str, bool]] = {
    "full": {},
    "no_disagreement_weighting": {"disagreement_weighting": False},
    "no_interaction_experts": {"interaction_experts": False},
    "no_conflict_expert": {"conflict_expert": False},
    "no_supcon": {"supcon": False},
    "ce_only": {"supcon": False, "xmod": False},
    "no_xmod": {"xmod": False},
}
