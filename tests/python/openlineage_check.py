"""Checks a received OpenLineage event against the spec, as openlineage-python's model encodes it.

openlineage-python's `generated` classes are built from the OpenLineage JSON schema (the
core RunEvent and each standard facet): their fields, required fields, enums and
validators (UUID run ids, ISO event times, URI producer and schema URLs). An event that
rebuilds into those classes field by field, with no field the spec does not define, and
whose schema URLs are the ones the classes carry, is an event the spec accepts. Facets
the spec does not define (the runner's hightouchSyncRun) are checked against their own
JSON schema, which the event names in `_schemaURL`.
"""

from __future__ import annotations

import enum
import importlib
import pkgutil
import sys
import types
import typing
from functools import cache
from typing import Any

import attr
from jsonschema import Draft202012Validator
from openlineage.client import generated
from openlineage.client.generated.base import BaseFacet, RunEvent, RunFacet
from referencing import Registry, Resource

from magento_warehouse.runner.lineage import sync_run_facet_schema

# Facet base classes: a facet of one of these types is picked by its _schemaURL.
FACET_BASES = {name for name in dir(generated.base) if name.endswith("Facet")}
CORE_SCHEMA = RunEvent._get_schema().split("#")[0]


class SpecError(ValueError):
    """Where the event breaks the spec, and how."""


@cache
def standard_facets() -> dict[str, type]:
    """Each standard facet class of the spec, by the schema URL it carries."""
    classes: dict[str, type] = {}
    for module_info in pkgutil.iter_modules(generated.__path__):
        module = importlib.import_module(f"{generated.__name__}.{module_info.name}")
        for value in vars(module).values():
            if (isinstance(value, type) and attr.has(value) and issubclass(value, BaseFacet)
                    and value.__module__ == module.__name__ and value.__name__ not in FACET_BASES):
                classes[value._get_schema()] = value
    return classes


@cache
def custom_facets() -> dict[str, Draft202012Validator]:
    """The project's own facets, by their $id.

    Their schemas extend the spec's RunFacet by $ref; the RunFacet's own fields
    (_producer, _schemaURL) are checked by the model's RunFacet class instead, so the
    reference resolves to any object here.
    """
    schema = sync_run_facet_schema()
    registry = Registry().with_resources([
        (schema["$id"], Resource.from_contents(schema)),
        (CORE_SCHEMA, Resource.from_contents({"$schema": schema["$schema"], "$defs": {"RunFacet": {"type": "object"}}})),
    ])
    return {schema["$id"]: Draft202012Validator({"$ref": f"{schema['$id']}#/$defs/HightouchSyncRunFacet"},
                                                registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER)}


def spec_errors(event: dict[str, Any]) -> list[str]:
    """What in a received event breaks the OpenLineage spec; [] when nothing does."""
    try:
        structure(RunEvent, event, "event")
    except SpecError as error:
        return [str(error)]
    return []


def structure(kind: Any, value: Any, where: str) -> Any:
    """`value` (parsed JSON) rebuilt as `kind`, one of the model's types; SpecError when it does not fit."""
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        options = [option for option in typing.get_args(kind) if option is not type(None)]
        if value is None:
            return None
        problems = []
        for option in options:
            try:
                return structure(option, value, where)
            except SpecError as error:
                problems.append(str(error))
        raise SpecError("; ".join(problems))
    if origin is list:
        expect(isinstance(value, list), where, "is not a list")
        (item,) = typing.get_args(kind)
        return [structure(item, element, f"{where}[{n}]") for n, element in enumerate(value)]
    if origin is dict:
        expect(isinstance(value, dict), where, "is not an object")
        _, item = typing.get_args(kind)
        return {key: structure(item, element, f"{where}.{key}") for key, element in value.items()}
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        try:
            return kind(value)
        except ValueError as error:
            raise SpecError(f"{where}: {value!r} is not one of {[m.value for m in kind]}") from error
    if isinstance(kind, type) and attr.has(kind):
        return structure_object(kind, value, where)
    if kind is Any:
        return value
    expect(isinstance(value, kind) and not (kind is int and isinstance(value, bool)), where,
           f"is {type(value).__name__}, not {getattr(kind, '__name__', kind)}")
    return value


def structure_object(kind: type, value: Any, where: str) -> Any:
    expect(isinstance(value, dict), where, "is not an object")
    if kind.__name__ in FACET_BASES and issubclass(kind, BaseFacet):
        return structure_facet(kind, value, where)
    fields = {field.name: field for field in attr.fields(kind)}
    unknown = sorted(set(value) - set(fields))
    expect(not unknown, where, f"has fields the spec does not define: {unknown}")
    arguments = {fields[name].alias: structure(field_type(kind, fields[name]), element, f"{where}.{name}")
                 for name, element in value.items() if fields[name].init}
    try:
        built = kind(**arguments)
    except (TypeError, ValueError) as error:  # a required field missing, a validator refusing
        raise SpecError(f"{where}: {error}") from error
    for name in ("schemaURL", "_schemaURL"):  # the class sets the spec's own URL (not an argument)
        if name in value:
            expect(value[name] == getattr(built, name), where, f"{name} {value[name]!r} is not the spec's "
                                                               f"{getattr(built, name)!r}")
    return built


def field_type(kind: type, field: Any) -> Any:
    """A field's type: the generated modules annotate them as strings ('Root | None')."""
    if not isinstance(field.type, str):
        return field.type
    return eval(field.type, {**vars(typing), **vars(sys.modules[kind.__module__])})  # noqa: S307 (the package's own annotations)


def structure_facet(base: type, value: dict[str, Any], where: str) -> Any:
    url = value.get("_schemaURL")
    expect(isinstance(url, str), where, "has no _schemaURL")
    if url in standard_facets():
        facet = standard_facets()[url]
        expect(issubclass(facet, base), where, f"is a {facet.__name__}, which is no {base.__name__}")
        return structure_object(facet, value, where)
    validator = custom_facets().get(url.split("#")[0])
    expect(validator is not None and base is RunFacet, where,
           f"names a schema that is neither the spec's nor one of the project's run facets: {url}")
    try:
        RunFacet(producer=value.get("_producer"))
    except (TypeError, ValueError) as error:
        raise SpecError(f"{where}: _producer {error}") from error
    problems = [error.message for error in validator.iter_errors(value)]
    expect(not problems, where, "; ".join(problems))
    return value


def expect(condition: bool, where: str, problem: str) -> None:
    if not condition:
        raise SpecError(f"{where} {problem}")
