"""What the sender's cold start does not import: Go template support until a Go template comes
(docs: courier.go_template), in a fresh interpreter, since this one has imported everything."""

from __future__ import annotations

from tests.conftest import modules_loaded_by


def _go_modules_after(code: str) -> list[str]:
    return sorted(m for m in modules_loaded_by(code) if m.startswith("courier.go_template"))


def test_rendering_a_builtin_template_imports_no_go_template_support() -> None:
    # GIVEN a fresh interpreter WHEN it imports the templates and renders a built-in one
    render = "courier.templates.render('login_code_valid', {'to': 'a@b.org', 'login_code': '1'})"
    # THEN the Go converter and runtime were never imported
    assert _go_modules_after(f"import courier.templates; {render}") == ["courier.go_template"]


def test_a_go_template_imports_what_it_needs_when_it_comes() -> None:
    # GIVEN a fresh interpreter WHEN it compiles a Go template override
    check = "courier.templates.check_template_source('Hi {{ .To }}', field='f')"
    loaded = _go_modules_after(f"import courier.templates; {check}")
    # THEN the converter and the Go sandbox came in then
    assert {"courier.go_template.converter", "courier.go_template.runtime"} <= set(loaded)
