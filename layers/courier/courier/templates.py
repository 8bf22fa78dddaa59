"""The mail templates: Kratos's twelve template types, rendered with Jinja2 in a sandbox.

Each template type has three parts: a one-line subject, a plaintext body and an HTML body. The
built-in parts ship in ``templates/builtin/<template_type>/`` next to this module; a project may
replace any of them (docs/design.md §3:
``templates.<type>.email.{subject, body.{html, plaintext}}``) with a ``base64://`` or
``file://`` URI whose content is Jinja2 source, or a Go template as Kratos's own overrides are
written (``{{ .RecoveryCode }}``).

A Go template (:func:`courier.go_template.is_go_template` has the one rule that tells) is
converted to Jinja when it is compiled (:mod:`courier.go_template`, docs/go-templates.md) and
renders in the same sandbox, with Go's printing, map lookups and functions
(:class:`courier.go_template.GoTemplateSandbox`); :func:`converted_source` shows the Jinja it
becomes. Conversions are cached like compiled templates.

Templates run in an immutable sandbox with :class:`~jinja2.StrictUndefined`: a template that
reaches for Python internals is refused, and a variable the message does not carry is an error
that names it, never an empty string in a password-reset mail (in a Go template, a key that a
map such as ``.Identity.metadata_public`` lacks is Go's zero value, as in Kratos). Only the HTML
part is autoescaped. Values in the template data are data: a code that looks like
``{{ 7*7 }}`` is printed as it is, never evaluated.

Example
-------
>>> mail = render("recovery_code_valid", {"to": "ada@example.com", "recovery_code": "123456"})
>>> mail.subject
'Recover access to your account'
>>> "123456" in mail.plaintext and "123456" in mail.html
True
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from courier import go_template
from courier.bundle import BundledKind, read_bundled_file
from courier.errors import ConfigError, MessageError
from courier.message import check_header_value
from courier.template_data import SAMPLE_DATA, TEMPLATE_TYPES, config_key

# Jinja2 (and courier.sandbox, built on it) is imported by the first template compiled or
# rendered, not with this module: about 17 ms of a cold start, which the sender then spends
# while its SMTP sessions open.
if TYPE_CHECKING:
    from jinja2 import Template

    from courier.sandbox import TemplateSandbox

__all__ = [
    "SAMPLE_DATA",
    "TEMPLATE_DIR",
    "TEMPLATE_TYPES",
    "URI_SCHEMES",
    "RenderedMail",
    "TemplateOverride",
    "check_template_renders",
    "check_template_source",
    "converted_jinja",
    "converted_source",
    "load_override_source",
    "render",
]

URI_SCHEMES = ("base64", "file", "https")
"""The schemes of a template override: its source inline, a bundled file, or a web page
(fetched when the config is read: :mod:`courier.remote_templates`)."""
TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
"""The bundled template folder: the only place ``file://`` overrides are read from."""

Part = Literal["subject", "plaintext", "html"]
_PARTS: tuple[Part, ...] = ("subject", "plaintext", "html")
# The part's place in a project's configuration, below templates.<type>; the built-in file of
# the part is named after it, with ".j2".
_TEMPLATE_FILE = BundledKind(
    "template_file",
    "template",
    "file://",
    "use a path relative to it, or inline the template as base64://",
)
_CONFIG_PATHS: dict[Part, str] = {
    "subject": "email.subject",
    "plaintext": "email.body.plaintext",
    "html": "email.body.html",
}
_MISSING_NAME = re.compile(r"^'([^']+)' is undefined$")


@dataclass(frozen=True, kw_only=True)
class TemplateOverride:
    """A project's replacement of some parts of one template type.

    Each part is a ``base64://<standard base64 of the Jinja2 source>`` or ``file://<path>`` URI,
    or ``None`` to keep the built-in part.
    """

    subject: str | None = None
    html: str | None = None
    plaintext: str | None = None


@dataclass(frozen=True, kw_only=True)
class RenderedMail:
    """The three rendered parts of a mail; ``subject`` is a single stripped line."""

    subject: str
    plaintext: str
    html: str


@cache
def _builtin_sandbox(*, autoescape: bool) -> TemplateSandbox:
    """The sandbox of the built-in templates (and of Jinja overrides): HTML's autoescapes."""
    from jinja2 import FileSystemLoader, StrictUndefined

    from courier.sandbox import TemplateSandbox

    return TemplateSandbox(
        loader=FileSystemLoader(TEMPLATE_DIR / "builtin"),
        undefined=StrictUndefined,
        autoescape=autoescape,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,  # the layer is read-only: no need to stat files on every render
    )


# Converted Go templates: Go's whitespace is the source's own (no trim_blocks), and macros are
# the only templates they call, so no loader. Made for the first Go template (by autoescape):
# courier.go_template is imported then.
_GO_SANDBOXES: dict[bool, TemplateSandbox] = {}


def _go_sandbox(*, autoescape: bool) -> TemplateSandbox:
    if autoescape not in _GO_SANDBOXES:
        sandbox = go_template.GoTemplateSandbox(autoescape=autoescape, auto_reload=False)
        _GO_SANDBOXES[autoescape] = sandbox
    return _GO_SANDBOXES[autoescape]


def _converts_go(environment: object) -> bool:
    """Whether ``environment`` renders converted Go templates."""
    return any(environment is sandbox for sandbox in _GO_SANDBOXES.values())


def render(
    template_type: str, data: Mapping[str, Any], *, override: TemplateOverride | None = None
) -> RenderedMail:
    """Render the subject, plaintext and HTML of ``template_type`` with ``data``.

    Parameters
    ----------
    template_type:
        One of :data:`TEMPLATE_TYPES`.
    data:
        The template data, with Kratos's JSON field names (``to``, ``recovery_code``, ...).
    override:
        The project's replacement parts, if any; parts it leaves unset keep the built-in.

    Returns
    -------
    RenderedMail
        The rendered parts.

    Raises
    ------
    MessageError
        ``template_type_unknown``; ``template_data_missing`` (naming the variable);
        ``template_unsafe`` (the template reached for Python internals); ``template_limit``
        (it went over a bound of :mod:`courier.sandbox`, which the message names);
        ``template_render_error``; ``header_crlf`` (the subject is not one line).
    ConfigError
        An override that cannot be loaded or compiled, with ``field`` set to its place in the
        configuration (``templates.<type>.email.body.html``).

    Example
    -------
    >>> render("login_code_valid", {"to": "ada@example.com", "login_code": "987654"}).subject
    'Log in to your account'
    """
    if template_type not in TEMPLATE_TYPES:
        raise MessageError(
            "template_type",
            "template_type_unknown",
            f"unknown template type {template_type!r}; expected one of: "
            + ", ".join(TEMPLATE_TYPES),
        )
    from courier.sandbox import render_budget

    context = dict(data)
    with render_budget():  # one budget for the three parts of the mail
        subject, plaintext, html = (
            _render_part(_template(template_type, part, override), context, template_type, part)
            for part in _PARTS
        )
    # The rule of every header value: one line, also once its encoded words are decoded.
    subject = check_header_value(subject.strip(), "subject")
    return RenderedMail(subject=subject, plaintext=plaintext, html=html)


def load_override_source(
    uri: str, *, field: str, fetch: Callable[[str, str], str] | None = None
) -> str:
    """Return the Jinja2 source that a template override URI names.

    Parameters
    ----------
    uri:
        ``base64://<standard base64 of UTF-8 source>``, or ``file://<path>`` with the path
        relative to (or absolute and inside) :data:`TEMPLATE_DIR`.
    field:
        The setting being read, for errors, e.g. ``templates.recovery_code_valid.email.subject``.
    fetch:
        How an ``https://`` (or ``http://``) URI is fetched, given the URI and ``field``: when
        a config is read (:mod:`courier.remote_templates`). Without it, such a URI is refused.

    Raises
    ------
    ConfigError
        ``template_base64_invalid``, ``template_file_outside``, ``template_file_missing``,
        ``template_file_unreadable``, ``template_remote_not_fetched`` or
        ``template_uri_scheme``.

    Example
    -------
    >>> load_override_source("base64://SGkge3sgdG8gfX0=", field="templates.x.email.subject")
    'Hi {{ to }}'
    """
    if not isinstance(uri, str):
        raise ConfigError(field, "template_uri_scheme", "must be a base64:// or file:// URI")
    scheme, separator, rest = uri.partition("://")
    scheme = scheme.lower() if separator else ""
    if scheme == "base64":
        return _decode_base64(rest, field=field)
    if scheme == "file":
        return read_bundled_file(rest, root=TEMPLATE_DIR, field=field, kind=_TEMPLATE_FILE)
    if scheme in ("http", "https") and fetch is not None:
        return fetch(uri, field)
    if scheme in ("http", "https"):
        raise ConfigError(
            field,
            "template_remote_not_fetched",
            f"{scheme}:// templates are not supported: courier does not fetch templates over "
            "the network; inline it as base64://",
        )
    raise ConfigError(
        field,
        "template_uri_scheme",
        "must start with base64:// (the template's source, base64-encoded) or file:// (a "
        "file in courier's bundled template folder)",
    )


def check_template_source(source: str, *, field: str) -> None:
    """Compile ``source`` without rendering it; raise if it is not a valid template.

    A Go template is converted first (:mod:`courier.go_template`).

    Raises
    ------
    ConfigError
        ``template_syntax``, naming the line and what is wrong there; for a Go template,
        ``go_template_syntax`` or ``go_template_unsupported``, naming the line.

    Example
    -------
    >>> check_template_source("{% if to %}Hi{% endif %}", field="templates.x.email.subject")
    >>> check_template_source("Hi {{ .To | upper }}", field="templates.x.email.subject")
    >>> check_template_source("Hi\\n{{ to }", field="f")
    Traceback (most recent call last):
    ...
    courier.errors.ConfigError: f: is not a valid Jinja2 template: line 2: unexpected '}'
    """
    _compile(source, autoescape=False, field=field)


def converted_source(uri: str, *, field: str) -> str | None:
    """The Jinja that the Go template override ``uri`` converts to, or ``None`` if the override
    is Jinja already: what courier renders, for a person to review.

    Raises
    ------
    ConfigError
        As :func:`load_override_source`; ``go_template_syntax`` or ``go_template_unsupported``
        (naming the line) if the Go template cannot be converted.

    Example
    -------
    >>> converted_source("base64://SGkge3sgLlRvIH19", field="f")  # Hi {{ .To }}
    'Hi {{ to }}'
    >>> converted_source("base64://SGkge3sgdG8gfX0=", field="f") is None  # Hi {{ to }}
    True
    """
    return converted_jinja(load_override_source(uri, field=field), field=field)


def converted_jinja(source: str, *, field: str) -> str | None:
    """The Jinja that the Go template ``source`` converts to, or ``None`` if it is Jinja.

    Raises
    ------
    ConfigError
        ``go_template_syntax`` or ``go_template_unsupported``, naming the line.
    """
    return _converted(source, field=field) if go_template.is_go_template(source) else None


def check_template_renders(template_type: str, part: Part, source: str, *, field: str) -> None:
    """Render ``source`` as the ``part`` of ``template_type`` with :data:`SAMPLE_DATA`, under
    the sandbox's bounds, as the sender would.

    Raises
    ------
    ConfigError
        ``template_syntax``; ``template_limit``, ``template_unsafe`` or
        ``template_render_error`` (naming the line); ``template_data_missing`` (a variable
        Kratos does not send for this type).

    Example
    -------
    >>> check_template_renders("login_code_valid", "subject", "Code {{ login_code }}", field="f")
    >>> check_template_renders("login_code_valid", "subject", "{{ 9 ** 99999 }}",
    ...                        field="f")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    courier.errors.ConfigError: f: the login_code_valid subject ... at line 1: ... (MAX_INT_BITS)
    """
    from courier.sandbox import render_budget

    template = _compile(source, autoescape=part == "html", field=field)
    try:
        with render_budget():
            _render_part(template, dict(SAMPLE_DATA[template_type]), template_type, part)
    except MessageError as exc:
        raise ConfigError(field, exc.code, exc.message) from None


@lru_cache(maxsize=256)
def _converted(source: str, *, field: str) -> str:
    try:
        return go_template.convert(source, field=field)
    except RecursionError:
        raise ConfigError(
            field, "go_template_syntax", "the Go template is nested too deeply to convert"
        ) from None


@lru_cache(maxsize=256)
def _compile(source: str, *, autoescape: bool, field: str) -> Template:
    if go_template.is_go_template(source):
        converted = _converted(source, field=field)
        return _compile_jinja(converted, _go_sandbox(autoescape=autoescape), field=field)
    return _compile_jinja(source, _builtin_sandbox(autoescape=autoescape), field=field)


def _compile_jinja(source: str, environment: TemplateSandbox, *, field: str) -> Template:
    from jinja2.exceptions import TemplateSyntaxError

    try:
        return environment.from_string(source)
    except RecursionError:
        raise ConfigError(
            field, "template_syntax", "is not a valid Jinja2 template: it is nested too deeply"
        ) from None
    except TemplateSyntaxError as exc:
        converted = _converts_go(environment)
        what = "its Jinja conversion is" if converted else "is"
        message = f"{what} not a valid Jinja2 template: line {exc.lineno}: {exc.message}"
        raise ConfigError(field, "template_syntax", message) from exc


def _template(template_type: str, part: Part, override: TemplateOverride | None) -> Template:
    uri = getattr(override, part) if override is not None else None
    if uri is None:
        environment = _builtin_sandbox(autoescape=part == "html")
        return environment.get_template(f"{template_type}/{_CONFIG_PATHS[part]}.j2")
    field = ".".join(("templates", *config_key(template_type), _CONFIG_PATHS[part]))
    source = load_override_source(uri, field=field)
    return _compile(source, autoescape=part == "html", field=field)


def _render_part(
    template: Template, context: dict[str, Any], template_type: str, part: Part
) -> str:
    from jinja2.exceptions import SecurityError, UndefinedError

    from courier.sandbox import TemplateLimitError, render_bounded

    where = f"the {template_type} {part} template"
    try:
        return render_bounded(template, context)
    except TemplateLimitError as exc:
        at = _at_line(template, exc)
        raise MessageError(
            "template", "template_limit", f"{where} went over a bound of the sandbox{at}: {exc}"
        ) from None
    except SecurityError as exc:
        raise MessageError(
            "template",
            "template_unsafe",
            f"{where} was refused by the sandbox{_at_line(template, exc)}: {exc}",
        ) from exc
    except UndefinedError as exc:
        match = _MISSING_NAME.match(exc.message or "")
        if match:
            name = match.group(1)
            raise MessageError(
                f"template_data.{name}",
                "template_data_missing",
                f"{where} uses {name!r}, which the message's template_data does not have",
            ) from exc
        raise MessageError(
            "template_data",
            "template_data_missing",
            f"{where} uses a value that the message's template_data does not have: {exc}",
        ) from exc
    # A template expression can raise whatever Python raises (1/0, 'a' + 1, ...).
    except Exception as exc:
        raise MessageError(
            "template",
            "template_render_error",
            f"{where} failed to render{_at_line(template, exc)}: {type(exc).__name__}: {exc}",
        ) from exc


def _at_line(template: Template, exc: BaseException) -> str:
    """`` at line N`` of ``template`` where ``exc`` was raised (Jinja maps its frames back to
    the template's lines), or ``""``."""
    filename = template.filename or "<template>"
    line = None
    traceback = exc.__traceback__
    while traceback is not None:
        if traceback.tb_frame.f_code.co_filename == filename:
            line = traceback.tb_lineno
        traceback = traceback.tb_next
    if line is None:
        return ""
    if _converts_go(template.environment):
        return f" at line {line} of its Jinja conversion"
    return f" at line {line}"


def _decode_base64(payload: str, *, field: str) -> str:
    # `base64` wraps its output at 76 characters; Kratos's Go decoder skips line breaks too.
    compact = "".join(payload.split())
    try:
        return base64.b64decode(compact, validate=True).decode("utf-8")
    except (binascii.Error, ValueError) as exc:
        raise ConfigError(
            field,
            "template_base64_invalid",
            f"base64:// does not hold standard base64 of UTF-8 text ({exc})",
        ) from exc
