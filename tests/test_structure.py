"""The structure a newcomer relies on, checked by parsing the source (like test_layering.py):
small modules and functions in tutor/ and app/, model calls recorded in one module, services built
only by the composition root."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 80
# What only tutor/services.py may construct: a tab that builds its own would hold a second copy.
SERVICES = {"MediaService", "QuizMaker", "QuizAnswers", "PlanMaker", "InterviewCoach", "LearnerStore", "MetricsStore",
            "InterviewStore", "Monitor", "MeteredBackend", "Meter", "build_services", "make_engines"}


def _modules(*packages: str):
    for pkg in packages:
        yield from sorted((ROOT / pkg).rglob("*.py"))


def _calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            yield node, (f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else "")


@pytest.mark.parametrize("path", list(_modules("tutor", "app")), ids=lambda p: str(p.relative_to(ROOT)))
def test_modules_and_functions_are_small(path):
    src = path.read_text()
    assert src.count("\n") <= MAX_MODULE_LINES, f"{path.name} has {src.count(chr(10))} lines"
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            n = node.end_lineno - node.lineno + 1
            assert n <= MAX_FUNCTION_LINES, f"{path.name}:{node.lineno} {node.name} is {n} lines"


def test_model_calls_are_recorded_in_one_module():
    callers = set()
    for path in _modules("tutor", "app", "training"):
        for _, name in _calls(ast.parse(path.read_text())):
            if name == "record_call":
                callers.add(str(path.relative_to(ROOT)))
    assert callers == {"tutor/metrics/meter.py"}


def test_no_tab_constructs_a_service():
    for path in _modules("app"):
        built = {name for _, name in _calls(ast.parse(path.read_text())) if name in SERVICES}
        if path.name == "__main__.py":
            built.discard("build_services")  # the entry point builds the app's services, once
        assert not built, f"{path.relative_to(ROOT)} constructs {sorted(built)}: take it from Services instead"


def test_the_composition_root_constructs_them():
    built = {name for _, name in _calls(ast.parse((ROOT / "tutor" / "services.py").read_text()))}
    assert {"MediaService", "QuizMaker", "PlanMaker", "MetricsStore", "MeteredBackend", "Monitor"} <= built
