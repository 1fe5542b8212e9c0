"""Every command's work is a library function a Python user calls without the command line: each one
imports (in a fresh interpreter that never imports ``nmt.cli``) and takes what its command passes it;
and the server's app, made from Python, translates as the library does."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from test_numbers import tiny_run  # noqa: F401 (the session's one tiny run)

from nmt.cli import build_parser
from nmt.decoding import DecodeConfig
from nmt.translate import Translator

LIBRARY = {
    # command: (module, function, a parameter it takes)
    "train": ("nmt.training.run", "train", "cfg"),
    "translate": ("nmt.translate", "Translator.translate", "sentences"),
    "export": ("nmt.export", "export_ctranslate2", "quantization"),
    "score": ("nmt.translate", "Translator.score", "targets"),
    "evaluate": ("nmt.evaluation.hypotheses", "translate_and_score", "refs"),
    "align": ("nmt.alignment.show", "align_sentences", "view"),
    "aer": ("nmt.alignment.aer_report", "aer_report", "gold"),
    "compare": ("nmt.evaluation.compare", "compare", "bootstrap"),
    "average": ("nmt.training.average", "average_run", "allow_mixed"),
    "serve": ("nmt.serve.app", "create_app", "engines"),
}

# Run in a fresh interpreter: import every function, then say which parameters each takes, whether it
# has a docstring, and which nmt.cli modules the imports pulled in (there must be none).
PROBE = """
import importlib, inspect, json, sys
found = {}
for command, (module, name, _) in json.loads(sys.argv[1]).items():
    function = importlib.import_module(module)
    for part in name.split("."):
        function = getattr(function, part)
    parameters = list(inspect.signature(function).parameters)
    found[command] = {"parameters": parameters, "doc": bool(function.__doc__)}
cli = sorted(m for m in sys.modules if m == "nmt.cli" or m.startswith("nmt.cli."))
print(json.dumps({"functions": found, "cli": cli}))
"""


def test_every_command_names_its_library_function() -> None:
    assert set(build_parser()[1]) == set(LIBRARY), "a command without its library function in LIBRARY"


def test_every_library_function_imports_without_the_command_line() -> None:
    probe = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(LIBRARY)], capture_output=True, text=True, timeout=120
    )
    assert probe.returncode == 0, probe.stderr[-3000:]
    report = json.loads(probe.stdout)
    assert report["cli"] == [], f"the library imports the command line: {report['cli']}"
    for command, (module, name, parameter) in LIBRARY.items():
        function = report["functions"][command]
        assert function["doc"], f"{module}.{name} (nmt {command}) has no docstring"
        assert parameter in function["parameters"], f"{module}.{name} takes no {parameter}"


def test_the_served_app_made_from_python_translates_as_the_library(tiny_run: Path) -> None:  # noqa: F811
    from fastapi.testclient import TestClient

    from nmt.serve.app import create_app
    from nmt.serve.engine import load_engines

    sentence = "A dog runs."
    with TestClient(create_app(load_engines([tiny_run], device="cpu"))) as client:
        response = client.post("/api/translate", json={"model": "tiny", "sentences": [sentence], "beam": 1})
    assert response.status_code == 200, response.text
    served = response.json()["sentences"][0]
    expected = Translator.from_run(tiny_run, device="cpu").translate([sentence], DecodeConfig(beam=1))[0][0]
    assert served["source"] == sentence and served["nbest"][0]["translation"] == expected.text
