"""Typed dataclass configs loaded from YAML presets with ``key=value`` overrides (OmegaConf).

OmegaConf's structured configs give type checking, nested dotted overrides and clear errors
for unknown keys, so we do not hand-write a parser.
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import io
import os
import re
import tokenize
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

T = TypeVar("T")


def require_positive(config: Any, *names: str, prefix: str = "") -> None:
    """Refuse any of the integer settings ``names`` of ``config`` below 1, naming it (with
    ``prefix``, e.g. ``"model."``, as the user writes it)."""
    for name in names:
        if getattr(config, name) < 1:
            raise ValueError(f"{prefix}{name} must be >= 1, got {getattr(config, name)}")


def load_config(schema: type[T], preset: str | os.PathLike | None = None,
                overrides: list[str] | tuple[str, ...] = ()) -> T:
    """Defaults of ``schema`` <- preset YAML file <- ``key=value`` overrides, as a dataclass."""
    text = None
    if preset is not None:
        try:
            text = Path(preset).read_text()
        except UnicodeDecodeError as error:
            raise ValueError(f"{preset} is not a readable YAML config (damaged?): "
                             f"{error}") from None
    return from_yaml(schema, text, overrides, source=str(preset))


def from_yaml(schema: type[T], text: str | None, overrides: list[str] | tuple[str, ...] = (),
              source: str = "the config") -> T:
    """Defaults of ``schema`` <- YAML ``text`` (None: nothing) <- ``key=value`` overrides."""
    bad = [item for item in overrides if "=" not in item]
    if bad:
        raise ValueError(f"overrides must look like key=value, got {bad}")
    try:
        config = OmegaConf.structured(schema)
        if text is not None:
            try:
                loaded = OmegaConf.create(text)
            except yaml.YAMLError as error:
                raise ValueError(f"{source} is not a readable YAML config (damaged?): "
                                 f"{error}") from None
            if not isinstance(loaded, DictConfig):
                raise ValueError(f"{source} does not hold a config mapping")
            config = OmegaConf.merge(config, loaded)
        try:
            dotlist = OmegaConf.from_dotlist(list(overrides))
        except yaml.YAMLError as error:
            raise ValueError(f"overrides {list(overrides)} are not readable as key=value: "
                             f"{error}") from None
        return OmegaConf.to_object(OmegaConf.merge(config, dotlist))
    except OmegaConfBaseException as error:
        raise ValueError(f"invalid config for {schema.__name__}: {error}") from None


def to_yaml(config: Any) -> str:
    """The resolved config as YAML text."""
    return OmegaConf.to_yaml(OmegaConf.structured(config))


def field_docs(schema: type) -> dict[str, str]:
    """The one-line description of each field of a dataclass (inherited ones included), from
    its source: the comment at the end of the field's line, or the comment lines just above."""
    docs: dict[str, str] = {}
    for cls in reversed(schema.__mro__):
        if dataclasses.is_dataclass(cls):
            docs.update(_own_field_docs(cls))
    return docs


def _own_field_docs(schema: type) -> dict[str, str]:
    lines, _ = inspect.getsourcelines(schema)
    docs, above = {}, []
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("#"):
            above.append(stripped.lstrip("# "))
            continue
        match = re.match(r"\s+(\w+)\s*:[^=]*=", line)
        if match and match.group(1) in {f.name for f in dataclasses.fields(schema)}:
            trailing = _trailing_comment(line)
            docs[match.group(1)] = trailing or " ".join(above)
        above = []
    return docs


def _trailing_comment(line: str) -> str:
    tokens = tokenize.generate_tokens(io.StringIO(line.strip() + "\n").readline)
    try:
        return next((t.string.lstrip("# ") for t in tokens if t.type == tokenize.COMMENT), "")
    except tokenize.TokenError:  # a line continued on the next one
        return line.split("#", 1)[1].strip() if "#" in line else ""


def describe(schema: type, prefix: str = "", defaults: Any = None
             ) -> list[tuple[str, str, str, str]]:
    """``(dotted name, type, default, description)`` of every field of ``schema``, nested
    dataclasses expanded with the defaults their parent gives them (``defaults``: the parent's
    default instance of ``schema``, when there is one)."""
    rows, docs, hints = [], field_docs(schema), typing.get_type_hints(schema)
    for item in dataclasses.fields(schema):
        name, kind = f"{prefix}{item.name}", hints[item.name]
        if defaults is not None:
            default = getattr(defaults, item.name)
        else:
            default = (item.default if item.default is not dataclasses.MISSING
                       else item.default_factory())
        if dataclasses.is_dataclass(kind):
            rows.extend(describe(kind, f"{name}.", default))
            continue
        rows.append((name, _type_name(kind), _value_text(default), docs.get(item.name, "")))
    return rows


def _type_name(kind: Any) -> str:
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return " | ".join(member.name for member in kind)
    text = getattr(kind, "__name__", None) if not typing.get_args(kind) else None
    return text or str(kind).replace("typing.", "").replace("NoneType", "None")


def _value_text(value: Any) -> str:
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, tuple):
        return f"[{', '.join(map(str, value))}]"
    return "null" if value is None else str(value)


def help_text(schema: type) -> str:
    """Every field of ``schema`` as ``name: type = default  description`` lines."""
    rows = describe(schema)
    width = max(len(f"{name}: {kind} = {default}") for name, kind, default, _ in rows)
    return "\n".join(f"  {f'{name}: {kind} = {default}':{width}}  {doc}".rstrip()
                     for name, kind, default, doc in rows)


def flatten(config: Any) -> dict[str, Any]:
    """Every leaf field of a (nested) dataclass config by dotted name, enums by name."""
    container = OmegaConf.to_container(OmegaConf.structured(config), enum_to_str=True)

    def walk(node: Any, prefix: str) -> Iterator[tuple[str, Any]]:
        if isinstance(node, dict):
            for key, value in node.items():
                yield from walk(value, f"{prefix}{key}.")
        else:
            yield prefix[:-1], node

    return dict(walk(container, ""))


def identity_changes(saved: dict[str, Any], config: Any, extendable: frozenset[str]
                     ) -> list[str]:
    """The fields (other than ``extendable`` ones) in which ``config`` differs from the
    flattened ``saved`` config, as ``name: saved -> now``."""
    now = flatten(config)
    return [f"{name}: {saved.get(name)!r} -> {now.get(name)!r}"
            for name in sorted(set(saved) | set(now))
            if name not in extendable and saved.get(name) != now.get(name)]
