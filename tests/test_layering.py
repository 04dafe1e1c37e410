"""Imports point downward only: tutor never imports gradio, app or training (HOUSE_STYLE)."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {"tutor": {"gradio", "app", "training"}}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_core_never_imports_ui_or_training():
    bad = []
    for pkg, forbidden in FORBIDDEN.items():
        files = list((ROOT / pkg).rglob("*.py"))
        assert files, f"no python files under {pkg}/"
        for f in files:
            hit = _imports(f) & forbidden
            if hit:
                bad.append(f"{f.relative_to(ROOT)} imports {sorted(hit)}")
    assert not bad, "\n".join(bad)


def test_no_heavy_import_at_module_level_in_core():
    """Weights load lazily: torch/transformers/sentence_transformers/chromadb are imported inside
    functions, so `import tutor.service` stays cheap."""
    heavy = {"torch", "transformers", "sentence_transformers", "peft", "mlx_lm", "faster_whisper", "whisper",
             "rapidocr", "ctranslate2", "onnxruntime", "chromadb", "plotly", "argon2", "prometheus_client"}
    bad = []
    for f in (ROOT / "tutor").rglob("*.py"):
        tree = ast.parse(f.read_text(encoding="utf-8"))
        for node in tree.body:  # module level only
            mods = set()
            if isinstance(node, ast.Import):
                mods = {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                mods = {node.module.split(".")[0]}
            if mods & heavy:
                bad.append(f"{f.relative_to(ROOT)}: {sorted(mods & heavy)}")
    assert not bad, "\n".join(bad)
