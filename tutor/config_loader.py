"""The one loader under every SmartLearn config: the app's (tutor/config.py) and training's (training/config.py).

It owns the steps both share: a frozen pydantic model per section (``ConfigModel``), reading a YAML file,
laying dotted overrides (``optim.max_steps`` or ``model.device``) over it, validating once, and turning a
pydantic ValidationError into the project's ConfigError with one sentence per bad setting: its dotted name,
where the value came from, the value, and what is allowed. Each sentence is built from the field itself
(its type, its ``Literal`` choices, its ``ge/gt/le/lt`` bounds), so bounds live in one place: the field.

Plain pydantic, not pydantic-settings: our env names split ``SMARTLEARN_<SECTION>_<FIELD>`` on the first
``_`` only, while field names hold ``_`` too; tests pass an explicit env mapping; unknown env keys of a known
section must be errors naming the variable while other ``SMARTLEARN_*`` variables are ignored; training reads
no env at all. That is a dozen lines in tutor/config.py, less than configuring a settings source to do it.
"""
from __future__ import annotations

import typing
from pathlib import Path
from typing import Any, Callable, ClassVar, Literal, Mapping, TypeVar

import annotated_types as at
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

from tutor.errors import ConfigError

M = TypeVar("M", bound="ConfigModel")
Where = Callable[[str], str]  # dotted setting name -> where its value came from, e.g. "(env SMARTLEARN_X)"

_KINDS = {bool: "true or false", int: "a whole number", float: "a number", str: "text", Path: "a path"}


class ConfigModel(BaseModel):
    """A frozen config section: unknown keys are errors, construction errors are ConfigError sentences."""

    # validate_default: cross-field rules (overlap < chunk_words) must also hold when only one side was set.
    model_config = ConfigDict(frozen=True, extra="forbid", coerce_numbers_to_str=True, validate_default=True)

    section: ClassVar[str] = ""  # dotted path of this model inside its root config ("" for the root)
    error: ClassVar[type[ConfigError]] = ConfigError

    def __init__(self, **data: Any) -> None:
        # Direct construction (tests, benches, CLI flags) reports like the loader does, never a raw traceback.
        try:
            super().__init__(**data)
        except ValidationError as e:
            raise self.error(explain(e, type(self), type(self).where)) from e

    # Tell pydantic this __init__ only wraps its own, so nested sections are validated inside the root's
    # validation (their errors keep the root's file/env origin) instead of through this __init__; pydantic's
    # BaseModel and RootModel mark their __init__ the same way.
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    @classmethod
    def where(cls, name: str) -> str:
        """How a user sets `name`; the app says which env var, training has no env."""
        return ""

    def replace(self: M, **changes: Any) -> M:
        """A validated copy with `changes` (pydantic's model_copy(update=...) would skip validation)."""
        return type(self)(**{**dict(self), **changes})

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_numbers(cls, value: Any, info: Any) -> Any:
        # pydantic's lax mode reads True as 1; a `top_k: yes` is a mistake, not a number.
        if isinstance(value, bool) and cls.model_fields[info.field_name].annotation in (int, float):
            raise PydanticCustomError("bool_number", "a boolean is not a number")
        return value


# ---------------------------------------------------------------- error sentences


def _bounds(field: FieldInfo) -> str:
    lo = hi = ""
    for m in field.metadata:
        if isinstance(m, at.Ge):
            lo = f">= {m.ge}"
        elif isinstance(m, at.Gt):
            lo = f"> {m.gt}"
        elif isinstance(m, at.Le):
            hi = f"<= {m.le}"
        elif isinstance(m, at.Lt):
            hi = f"< {m.lt}"
        elif isinstance(m, at.MinLen) and field.annotation is str:
            lo = f"of at least {m.min_length} characters"
        elif isinstance(m, at.MaxLen):
            hi = f"at most {m.max_length} characters"
    return " and ".join(b for b in (lo, hi) if b)


def allowed(field: FieldInfo) -> str:
    """What a field accepts, in words: "one of auto, cpu", "a whole number >= 1 and <= 50"."""
    ann = field.annotation
    if typing.get_origin(ann) is Literal:
        return "one of " + ", ".join(str(a) for a in typing.get_args(ann))
    if isinstance(ann, type) and issubclass(ann, ConfigModel):
        return "a mapping of settings (" + ", ".join(f"{k}:" for k in ann.model_fields) + ")"
    if typing.get_origin(ann) is tuple:
        kind = "a non-empty list of names"  # the only tuple settings are lists of module names
    else:
        kind = _KINDS.get(ann, getattr(ann, "__name__", str(ann)))
    bounds = _bounds(field)
    return f"{kind} {bounds}" if bounds else kind


def _field_at(root: type[ConfigModel], loc: tuple[Any, ...]) -> tuple[type[ConfigModel], FieldInfo | None]:
    """The model owning the last key of `loc`, and that key's field (None when the key is unknown)."""
    model: type[ConfigModel] = root
    for key in loc[:-1]:
        f = model.model_fields.get(str(key))
        ann = f.annotation if f else None
        if not (isinstance(ann, type) and issubclass(ann, ConfigModel)):
            break
        model = ann
    return model, model.model_fields.get(str(loc[-1])) if loc else None


def _sentence(err: Mapping[str, Any], root: type[ConfigModel], where: Where) -> str:
    loc = tuple(x for x in err["loc"] if not isinstance(x, int))  # list positions belong to their field
    name = ".".join([root.section, *map(str, loc)] if root.section else map(str, loc)) or "config"
    at_ = where(name)
    at_ = f" {at_}" if at_ else ""
    owner, field = _field_at(root, loc)
    if err["type"] == "extra_forbidden" or field is None:
        known_in = f" in {owner.section}" if owner.section else ""
        return f"Unknown setting {name}{at_}; known{known_in}: {', '.join(owner.model_fields)}."
    if err["type"] in ("value_error", "assertion_error"):
        reason = str(err["ctx"]["error"])  # our own validators write the whole "must ..." phrase
    else:
        reason = f"must be {allowed(field)}"
    return f"Invalid setting {name}{at_}: got {err.get('input')!r}; it {reason}."


def explain(e: ValidationError, root: type[ConfigModel], where: Where) -> str:
    """Every error of `e` as a sentence naming the setting, its value and what is allowed."""
    return " ".join(_sentence(err, root, where) for err in e.errors(include_url=False))


# ---------------------------------------------------------------- loading


def read_yaml(path: str | Path, error: type[ConfigError], what: str) -> dict[str, Any]:
    """A YAML mapping from `path`; an empty file is {}. `what` names the file in messages ("Config file")."""
    import yaml  # only needed when a file is given

    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise error(f"{what} {p} does not exist.") from e
    except yaml.YAMLError as e:
        raise error(f"{what} {p} is not valid YAML: {e}") from e
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise error(f"{what} {p} must be a mapping of settings and sections (name:, model:, ...).")
    return data


def with_overrides(data: Mapping[str, Any], overrides: Mapping[str, Any], error: type[ConfigError],
                   origin: str) -> dict[str, Any]:
    """`data` with dotted overrides laid over it ({"optim.max_steps": 5}); `data` itself is not changed."""
    out = {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in data.items()}
    for dotted, value in overrides.items():
        section, _, key = dotted.partition(".")
        if not key:
            out[section] = value
            continue
        sec = out.setdefault(section, {})
        if sec is None:
            sec = out[section] = {}
        if not isinstance(sec, dict):
            raise error(f"Setting {section} in {origin} must be a mapping of settings.")
        sec[key] = value
    return out


def parse_overrides(pairs: list[str], error: type[Exception], example: str) -> dict[str, Any]:
    """Command-line `--set KEY=VALUE` pairs as overrides for `with_overrides`; values are read as YAML, so
    `5`, `true` and `[a, b]` keep their types. `example` shows a valid pair in the error sentence."""
    import yaml

    out: dict[str, Any] = {}
    for p in pairs:
        key, sep, value = p.partition("=")
        if not sep or not key.strip():
            raise error(f"--set expects KEY=VALUE (e.g. {example}), got {p!r}.")
        out[key.strip()] = yaml.safe_load(value)
    return out


def build(model: type[M], data: Any, where: Where, origin: str = "<dict>") -> M:
    """Validate a mapping (as read from YAML, overrides laid over it) into `model`, or raise its error."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise model.error(f"{origin} must be a mapping of settings and sections ("
                          + ", ".join(f"{k}:" for k in model.model_fields) + ").")
    data = {k: v for k, v in data.items() if v is not None or k not in _sections(model)}  # `eval:` left empty
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise model.error(explain(e, model, where)) from e


def _sections(model: type[ConfigModel]) -> set[str]:
    return {k for k, f in model.model_fields.items()
            if isinstance(f.annotation, type) and issubclass(f.annotation, ConfigModel)}


def describe(cfg: ConfigModel) -> list[tuple[str, str, str]]:
    """(setting, value, help) rows of every leaf setting; password and API key values are hidden."""
    rows: list[tuple[str, str, str]] = []
    for name, f in type(cfg).model_fields.items():
        value = getattr(cfg, name)
        if isinstance(value, ConfigModel):
            rows += [(f"{name}.{k}", v, h) for k, v, h in describe(value)]
            continue
        shown = "***" if ("password" in name or name == "api_key") and value else str(value)
        rows.append((name, shown, f.description or ""))
    return rows
