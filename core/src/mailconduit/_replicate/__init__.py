"""Replication of a mailbox into the store: plan, ingest, process, apply, and the run around them.

``replicate`` runs once, ``watch`` keeps running on IDLE (or polling), ``adopt`` records what a folder
holds now as already seen. The order and the promises are DESIGN.md's "Semantics".
"""

from __future__ import annotations

from mailconduit._replicate._adopt import AdoptResult, adopt
from mailconduit._replicate._analyse import AnalyseResult, analyse
from mailconduit._replicate._run import AlreadyRunning, replicate
from mailconduit._replicate._watch import watch

__all__ = ["AdoptResult", "AlreadyRunning", "AnalyseResult", "adopt", "analyse", "replicate", "watch"]
