"""Stored configs rebuilt without pydantic validation, when that gives the same models.

A stored config is the normalised document of a pipeline that was validated when it was
applied (``Pipeline.to_document``, keyed by its hash). Validating it again in every process
that reads it costs a short command most of its model work: building the validator of
``Pipeline`` and its job config, and pydantic's plugin scan over every installed distribution
that the first validator triggers (~25 ms of ``interlock emit``, issue 13).

:func:`decode_stored` builds the same models with ``model_construct``, field by field from the
models' own declarations: aliases, defaults, nested models, lists, dicts, enums, unions of
plain JSON types, and the before/after validators of ``Annotated`` types (durations and dates
are parsed by the same functions validation calls). The checks that only accept or refuse a
document (constraints, and the field/model validators named in :data:`CHECK_ONLY`) are run on
the rebuilt values: a row written by an older version whose checks were looser, or edited in
the store, is refused exactly as before. A listed validator that returns anything but the
value it was given is no check: the document goes to full validation.

Whatever it does not know to be equivalent — an unknown key, a missing required field, a value
of an unexpected type, a validator not listed, an annotation it does not handle — makes it
return None, and the caller validates in full as before (which also reports the error, if
any). ``tests/core/config/test_stored_decode.py`` proves equality with full validation (values,
types, ``model_fields_set``) for every example and fixture config.
"""

import re
import types
import typing
from collections.abc import Callable
from typing import Annotated, Any, TypeVar, Union

import annotated_types
from pydantic import AfterValidator, BaseModel, BeforeValidator
from pydantic.fields import FieldInfo

from interlock_core.config.jobs import JOB_CONFIG_MODELS, JobConfigBase, JobType, canonical_job_keys
from interlock_core.config.models import Job

Model = TypeVar("Model", bound=BaseModel)

# Field and model validators (mode "after") that only check a value, returning it unchanged
# when valid; the decoder calls them too. A validator not listed here makes its model go
# through full validation: a new validator that changes a value can never be skipped.
CHECK_ONLY = frozenset(
    {
        "Rule._value_fits_check",
        "Schedule._cron",  # also maps "" to None, which a stored document never holds
        "Schedule._cron_or_include",
        "SLA._max_24h",
        "Validation._any_needs_rules",
        "Job._poll_window",
        "Pipeline._cross_field",
        "AirflowJob._http_url",
        "AirflowJob._target",
        "DatabricksJob._http_url",
        "HttpJob._http_url",
        "CommandJob._non_empty",
    }
)
# Handled here: the job config's model is chosen by the job type, as the validator does.
_JOB_CONFIG = "Job._typed_config"
_JSON_TYPES = (str, int, float, bool, type(None), list, dict)


class _NotPlain(Exception):
    """The document holds something only full validation decides."""


# Rebuilding costs ~0.35 ms a config in Python, validating ~0.07 ms once the validator is built
# (~10 ms, plus the plugin scan on the first one). A short command reads one or a few configs;
# a controller reads thousands, so past this many per model it builds the validator instead.
CONSTRUCT_AT_MOST = 16
_constructed: dict[type, int] = {}


def parse_stored(model: type[Model], document: Any) -> Model:
    """``model`` from a stored document: rebuilt by :func:`decode_stored` while the model's
    validator is not built and few were parsed in this process, else validated in full.

    Raises:
        pydantic.ValidationError: the document is not valid (full validation says why).
    """
    if not model.__pydantic_complete__ and _constructed.get(model, 0) < CONSTRUCT_AT_MOST:
        decoded = decode_stored(model, document)
        if decoded is not None:
            # Unlocked: two threads may both count one; a few more rebuilt is harmless.
            _constructed[model] = _constructed.get(model, 0) + 1
            return decoded
    return model.model_validate(document)


def decode_stored(model: type[Model], document: Any) -> Model | None:
    """``model`` rebuilt from a stored (already validated) document; None when only
    ``model.model_validate`` can tell (the caller then validates in full)."""
    try:
        return _construct(model, document)
    except Exception:
        # _NotPlain, or a parse, check or validator refused a value (ValueError), or failed
        # otherwise (OverflowError for 1e400 seconds): full validation decides and reports
        # exactly what it reported before.
        return None


def _construct(model: type[Model], document: Any) -> Model:
    if type(document) is not dict:
        raise _NotPlain
    _check_validators(model)
    fields = model.__pydantic_fields__
    by_alias = _aliases(model)
    for key in document:
        if key not in by_alias:
            raise _NotPlain  # unknown here (extra="forbid" refuses it), or a field's name
    values: dict[str, Any] = {}
    given: set[str] = set()
    for name, info in fields.items():
        alias = info.alias or name
        if alias in document:
            given.add(name)
            if model is Job and name == "config":
                values[name] = _job_config(document.get("type"), document[alias])
            else:
                values[name] = _value(info.annotation, info.metadata, document[alias])
        elif model is Job and name == "config" and document.get("type") is None:
            values[name] = None  # what the validator makes of a job-less job's absent config
        elif info.is_required() or info.validate_default:
            raise _NotPlain
        else:
            values[name] = _default(info)
    for field_names, check in _field_checks(model):
        for name in field_names:
            if name in given and check(values[name]) is not values[name]:
                raise _NotPlain  # it changed the value: not a check after all
    built = model.model_construct(_fields_set=given, **values)
    for check in _model_checks(model):
        if check(built) is not built:
            raise _NotPlain
    return built


def _job_config(job_type: Any, config: Any) -> JobConfigBase | None:
    if job_type is None or config is None:
        raise _NotPlain  # validation decides (an error, or no config for a job-less job)
    kind = JobType(job_type)
    job_model = JOB_CONFIG_MODELS[kind]
    if type(config) is not dict:
        raise _NotPlain
    return _construct(job_model, canonical_job_keys(job_model, config))


def _default(info: FieldInfo) -> Any:
    factory = info.default_factory
    if isinstance(factory, type) and issubclass(factory, BaseModel):
        # ``Field(default_factory=Schedule)``: the model as validating ``{}`` builds it.
        return _construct(factory, {})
    return info.get_default(call_default_factory=True, validated_data={})


def _value(annotation: Any, metadata: list[Any], value: Any) -> Any:
    """``value`` as validation turns it into ``Annotated[annotation, *metadata]``."""
    before: list[Callable[[Any], Any]] = []
    after: list[Callable[[Any], Any]] = []
    checks: list[Callable[[Any], bool]] = []
    _validators(metadata, before, after, checks)
    # Like pydantic: the outermost before-validator runs first, after-validators in order.
    for function in reversed(before):
        value = function(value)
    value = _typed(annotation, value)
    # Constraints hold for every document applied; one that fails here (a row written by an
    # older version, or edited) goes to full validation, which refuses it as it did before.
    if not all(check(value) for check in checks):
        raise _NotPlain
    for function in after:
        value = function(value)
    return value


def _validators(
    metadata: list[Any], before: list[Any], after: list[Any], checks: list[Any]
) -> None:
    for item in metadata:
        if isinstance(item, BeforeValidator):
            before.append(_plain_function(item.func))
        elif isinstance(item, AfterValidator):
            after.append(_plain_function(item.func))
        elif isinstance(item, FieldInfo):
            _validators(item.metadata, before, after, checks)
        else:
            check = _constraint(item)
            if check is not None:
                checks.append(check)
            elif not _is_strict_or_serializer(item):
                raise _NotPlain


def _constraint(item: Any) -> Callable[[Any], bool] | None:
    """The check of a constraint (``Field(ge=0, pattern=...)``), or None when ``item`` is no
    constraint; raises _NotPlain for a constraint not handled here."""
    if isinstance(item, annotated_types.Gt):
        return lambda value: bool(value > item.gt)
    if isinstance(item, annotated_types.Ge):
        return lambda value: bool(value >= item.ge)
    if isinstance(item, annotated_types.Lt):
        return lambda value: bool(value < item.lt)
    if isinstance(item, annotated_types.Le):
        return lambda value: bool(value <= item.le)
    if isinstance(item, annotated_types.MinLen):
        return lambda value: len(value) >= item.min_length
    if isinstance(item, annotated_types.MaxLen):
        return lambda value: len(value) <= item.max_length
    if type(item).__module__ == "annotated_types":
        raise _NotPlain
    if type(item).__name__ == "_PydanticGeneralMetadata":
        # Field(pattern=...); other general settings (coerce_numbers_to_str...) may convert.
        if set(vars(item)) != {"pattern"}:
            raise _NotPlain
        pattern = re.compile(item.pattern)
        # pydantic's regex engine reads "$" as the very end; Python's also before a final
        # newline: a value with a newline is left to full validation.
        return lambda value: "\n" not in value and pattern.search(value) is not None
    return None


def _is_strict_or_serializer(item: Any) -> bool:
    # Strict: the types are checked exactly here anyway; serializers and SerializeAsAny only
    # matter when dumping.
    return type(item).__name__ in {"Strict", "PlainSerializer", "SerializeAsAny"}


def _plain_function(function: Any) -> Callable[[Any], Any]:
    code = getattr(function, "__code__", None)
    if code is None or code.co_argcount != 1:
        raise _NotPlain  # a validator that reads ValidationInfo, or a callable object
    return typing.cast(Callable[[Any], Any], function)


def _typed(annotation: Any, value: Any) -> Any:
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        base, *metadata = typing.get_args(annotation)
        return _value(base, metadata, value)
    if annotation is Any:
        return value
    if origin is Union or origin is types.UnionType:
        return _union(typing.get_args(annotation), value)
    if origin is list:
        if type(value) is not list:
            raise _NotPlain
        (item,) = typing.get_args(annotation)
        return [_typed(item, element) for element in value]
    if origin is dict:
        if type(value) is not dict:
            raise _NotPlain
        key_type, item = typing.get_args(annotation)
        if key_type is not str or any(type(key) is not str for key in value):
            raise _NotPlain
        return {key: _typed(item, element) for key, element in value.items()}
    if origin is not None or not isinstance(annotation, type):
        raise _NotPlain
    return _scalar(annotation, value)


def _scalar(annotation: type, value: Any) -> Any:
    if issubclass(annotation, BaseModel):
        return _construct(annotation, value)
    if annotation is float:
        if type(value) is int:
            return float(value)  # lax mode: 30 -> 30.0
        if type(value) is float:
            return value
        raise _NotPlain
    if annotation in (str, int, bool, type(None)):
        if type(value) is not annotation:
            raise _NotPlain
        return value
    if issubclass(annotation, str) and hasattr(annotation, "_value2member_map_"):
        member = annotation._value2member_map_.get(value) if type(value) is str else None
        if member is None:
            raise _NotPlain
        return member
    if type(value) is annotation:
        return value  # what a before-validator made (timedelta, date)
    raise _NotPlain


def _union(members: tuple[Any, ...], value: Any) -> Any:
    if value is None:
        if type(None) not in members:
            raise _NotPlain
        return None
    candidates = [member for member in members if member is not type(None)]
    if len(candidates) != 1:
        # Several plain JSON types (``str | list[str]``): the one this value is.
        candidates = [member for member in candidates if _json_type(member) is type(value)]
        if len(candidates) != 1:
            raise _NotPlain
    return _typed(candidates[0], value)


def _json_type(annotation: Any) -> type | None:
    """The JSON type of a union member (``Annotated[int, Strict()]`` -> int), or None."""
    while typing.get_origin(annotation) is Annotated:
        annotation = typing.get_args(annotation)[0]
    origin = typing.get_origin(annotation) or annotation
    if origin in _JSON_TYPES:
        return typing.cast(type, origin)
    return None


_checked: dict[type, bool] = {}
_alias_maps: dict[type, dict[str, str]] = {}
# Model settings that change nothing a stored document decodes to (any other: full validation).
_PLAIN_SETTINGS = frozenset(
    {"extra", "populate_by_name", "alias_generator", "frozen", "defer_build"}
)


def _field_checks(model: type[BaseModel]) -> list[tuple[tuple[str, ...], Callable[[Any], Any]]]:
    """The listed field validators (``mode="after"``) with the fields they check."""
    decorators = model.__pydantic_decorators__.field_validators.values()
    return [(d.info.fields, d.func) for d in decorators if d.info.mode == "after"]


def _model_checks(model: type[BaseModel]) -> list[Callable[[Any], Any]]:
    """The listed model validators (``mode="after"``: they take the built model)."""
    return [d.func for d in model.__pydantic_decorators__.model_validators.values()]


def _check_validators(model: type[BaseModel]) -> None:
    plain = _checked.get(model)
    if plain is None:
        decorators = model.__pydantic_decorators__
        # By the function's own class: TriggerCondition inherits Rule's validator.
        names = {
            getattr(decorator.func, "__qualname__", "?")
            for group in (decorators.field_validators, decorators.model_validators)
            for decorator in group.values()
        }
        modes = {
            decorator.info.mode
            for group in (decorators.field_validators, decorators.model_validators)
            for decorator in group.values()
            if getattr(decorator.func, "__qualname__", "?") != _JOB_CONFIG
        }
        fields = model.__pydantic_fields__.values()
        plain = (
            names <= CHECK_ONLY | {_JOB_CONFIG}
            and modes <= {"after"}
            and set(model.model_config) <= _PLAIN_SETTINGS
            and all(info.validation_alias in (None, info.alias) for info in fields)
            and all(info.discriminator is None for info in fields)
            and not decorators.validators
            and not decorators.root_validators
            and not decorators.field_serializers
            and not decorators.model_serializers
            and model.model_config.get("extra") == "forbid"
        )
        _checked[model] = plain
    if not plain:
        raise _NotPlain


def _aliases(model: type[BaseModel]) -> dict[str, str]:
    aliases = _alias_maps.get(model)
    if aliases is None:
        aliases = {(info.alias or name): name for name, info in model.__pydantic_fields__.items()}
        _alias_maps[model] = aliases
    return aliases
