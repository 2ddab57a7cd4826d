"""The public surface of openproctor.core is declared once, and core uses the stdlib only."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import openproctor.core as core

CORE = Path(core.__file__).resolve().parent

PUBLIC = {
    "EVENT_TYPES",
    "FLAG_TYPES",
    "PENALTY_RULES",
    "SDK_VERSION",
    "Accommodation",
    "BadMac",
    "BatchResult",
    "BrowserSession",
    "BrokenLink",
    "ChainError",
    "ChainState",
    "Draft",
    "DuplicateEvent",
    "EncodingError",
    "Event",
    "EventValidationError",
    "FlagScore",
    "ForeignSession",
    "IncompleteLog",
    "Normaliser",
    "NormaliserConfig",
    "Policy",
    "PolicyError",
    "ProctorError",
    "Recorder",
    "Reordered",
    "Secret",
    "SequenceGap",
    "SignalError",
    "Signer",
    "Tally",
    "TimeWentBackwards",
    "TrustScore",
    "canonical_encode",
    "check_complete",
    "compute_mac",
    "derive_session_key",
    "genesis",
    "parse_json",
    "parse_policy",
    "policy_from_lti_custom",
    "score_log",
    "score_tally",
    "validate_event",
    "verify_batch",
    "verify_log",
}


def test_all_is_exactly_the_public_surface():
    assert set(core.__all__) == PUBLIC
    assert len(core.__all__) == len(PUBLIC)
    exported = {name for name in vars(core) if not name.startswith("_")}
    modules = {
        "bridge",
        "chain",
        "encoding",
        "errors",
        "events",
        "normalise",
        "policy",
        "recorder",
        "scoring",
    }
    assert exported - modules == PUBLIC


def test_public_names_are_documented():
    for name in core.__all__:
        obj = getattr(core, name)
        if callable(obj):
            assert obj.__doc__, f"{name} has no docstring"


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_core_imports_only_the_standard_library():
    files = sorted(CORE.glob("*.py"))
    assert len(files) >= 8
    for path in files:
        outside = imported_modules(path) - set(sys.stdlib_module_names) - {"__future__"}
        assert not outside, f"{path.name} imports {outside}"


def test_the_import_check_would_catch_a_third_party_import(tmp_path):
    sample = tmp_path / "bad.py"
    sample.write_text("import numpy\nfrom jwt import decode\nfrom . import chain\n")
    assert imported_modules(sample) - set(sys.stdlib_module_names) == {"numpy", "jwt"}
