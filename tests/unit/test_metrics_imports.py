"""The metrics service starts light: the libraries it needs only now and then (matplotlib, fpdf2 and openpyxl for a
report's documents, pyvi for triage, numpy for a verification's fingerprints) are imported where they are used, not
when loa_metrics.app is. Imported at start they cost the long-lived process about 65 MB (bench/feedback_poll.py)."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("matplotlib", "fpdf", "openpyxl", "pyvi", "sklearn", "numpy", "imagehash", "PIL")
# What serving and consuming need, and polling does not: Faust, the HTTP server, S3, the secrets' cryptography.
SERVING = ("faust", "mode", "fastapi", "starlette", "uvicorn", "boto3", "botocore", "cryptography")


def heavy_after_import(module: str, heavy: tuple[str, ...] = HEAVY) -> list[str]:
    """The `heavy` top-level packages in sys.modules after importing `module` in a fresh interpreter."""
    code = (
        f"import json, sys; import {module}; "
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({list(heavy)!r}))))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    found: list[str] = json.loads(done.stdout)
    return found


def test_the_service_imports_none_of_the_heavy_libraries() -> None:
    assert heavy_after_import("loa_metrics.app") == []


def test_the_renderers_still_bring_theirs() -> None:
    # The check above sees these libraries when a module does import them.
    assert {"matplotlib", "fpdf", "openpyxl"} <= set(heavy_after_import("loa_metrics.report_pdf"))
    assert "numpy" in heavy_after_import("loa_core.fingerprint")


def test_the_poller_imports_neither_faust_nor_the_api_nor_s3() -> None:
    # The poller's process (loa_metrics.poller): the settings of every service import FastAPI (auth), boto3 (storage)
    # and cryptography (secrets) only where a method needs them, and the projection's rooms import no triage.
    assert heavy_after_import("loa_metrics.poller", SERVING + HEAVY) == []
    assert heavy_after_import("loa_metrics.projection", SERVING + HEAVY) == []
    assert {"faust", "fastapi"} <= set(heavy_after_import("loa_metrics.app", SERVING))
