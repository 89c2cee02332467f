"""Data Docs for one gate run: ``render_data_docs(result, out_path, title) -> Path``.

GX's own renderer for a validation result (``ValidationResultsPageRenderer``) builds the document;
GX's own Jinja page view (``DefaultJinjaPageView``) writes the HTML, with a few of its templates
replaced so that the page is one self-contained file that displays offline:

* GX's page links Bootstrap, bootstrap-table, Font Awesome, jQuery, Popper, Vega and a datepicker
  from public CDNs, a favicon and logo from relative ``static/`` folders of a Data Docs site, the GX
  logo from S3 and a newsletter link. Here those links are dropped; GX's default stylesheet is
  inlined (its one ``url(https://...)``, the navbar logo, removed) with a small stylesheet for the
  Bootstrap classes the page uses. Tables are plain HTML tables (their content is in the page, not
  loaded by script); collapsible "Show more info" sections are simply shown expanded.
* The "Actions" card (show failed only) needs jQuery; it is left out.

The page therefore loads nothing from the network or the file system. The one outgoing hyperlink
GX may still write is to a documentation page in an expectation's description; nothing needed for
display. The page is written atomically (temp file in the target folder, then ``os.replace``).
"""

from __future__ import annotations

import os
import re
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

_OFFLINE_CSS = """
body { font-family: -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; margin: 0;
       color: #212529; font-size: 14px; line-height: 1.45; }
.gate-header { padding: 12px 24px; border-bottom: 1px solid #dee2e6; background: #f8f9fa; }
.gate-header h1 { font-size: 20px; margin: 0; }
.gate-header p { margin: 4px 0 0; color: #6c757d; }
.container-fluid { padding: 16px 24px; }
.row { display: flex; flex-wrap: wrap; }
.col-md-2, .col-lg-2 { flex: 0 0 16%; max-width: 16%; padding-right: 12px; box-sizing: border-box; }
.col-md-10, .col-lg-10 { flex: 0 0 84%; max-width: 84%; box-sizing: border-box; }
.col-12, .col-md-12, .col-lg-12 { flex: 0 0 100%; max-width: 100%; }
.col-md-6, .col-lg-6 { flex: 0 0 50%; max-width: 50%; box-sizing: border-box; padding-right: 8px; }
.card { border: 1px solid #dee2e6; border-radius: 4px; margin-bottom: 12px; }
.card-header { background: #f1f3f5; padding: 6px 10px; border-bottom: 1px solid #dee2e6; }
.card-body { padding: 8px 10px; }
table { border-collapse: collapse; width: 100%; margin-bottom: 8px; }
th, td { border: 1px solid #dee2e6; padding: 4px 6px; text-align: left; vertical-align: top; }
thead th { background: #f8f9fa; }
.table-sm td, .table-sm th { padding: 3px 5px; }
.badge { display: inline-block; padding: 1px 6px; border-radius: 8px; background: #e9ecef; font-size: 12px; }
.badge-info, .badge-primary { background: #d0ebff; }
.badge-secondary { background: #e9ecef; }
.badge-danger { background: #ffe3e3; } .badge-success { background: #d3f9d8; }
.alert { padding: 8px 12px; border: 1px solid #dee2e6; border-radius: 4px; margin: 8px 0; }
.alert-secondary { background: #f8f9fa; }
.text-success { color: #2b8a3e; } .text-danger { color: #c92a2a; } .text-muted { color: #6c757d; }
.fa-check-circle::before { content: "\\2714"; } .fa-times::before { content: "\\2716"; }
.fa-exclamation-triangle::before { content: "\\26A0"; } .fa-question-circle::before { content: "?"; }
.fas, .far { font-style: normal; }
.nav { list-style: none; padding-left: 0; margin: 0; }
.nav-link { display: block; padding: 2px 6px; text-decoration: none; }
.d-none { display: none; }
.d-md-block, .d-sm-block { display: block; }
.ge-section { margin-bottom: 12px; }
pre, code { white-space: pre-wrap; word-break: break-all; }
"""

_PAGE = """<!DOCTYPE html>
<html>
  <head>
    <meta charset="UTF-8">
    <meta name="viewport" content="width=device-width, initial-scale=1.0" />
    <title>{{ gate_title | e }}</title>
    <style>{% include 'data_docs_default_styles.css' %}</style>
    <style>{% include 'gate_offline.css' %}</style>
  </head>
  <body>
    {% include 'top_navbar.j2' %}
    <div class="container-fluid pt-4 pb-4 pl-5 pr-5">
      <div class="row">
        {% include 'sidebar.j2' %}
        <div class="col-md-10 col-lg-10 col-xs-12 pl-md-4 pr-md-3">
        {% for section in sections %}
          {% set section_loop = loop -%}
          {% include 'section.j2' %}
        {% endfor %}
        </div>
      </div>
    </div>
  </body>
</html>
"""

_NAVBAR = """<header class="gate-header">
  <h1>{{ gate_title | e }}</h1>
  <p>Great Expectations {{ ge_version }} validation result{% if expectation_suite_name %}, suite
  {{ expectation_suite_name | e }}{% endif %}{% if page_title %}: {{ page_title | e }}{% endif %}</p>
</header>
"""


@cache
def _templates() -> dict[str, str]:
    from importlib.resources import files

    styles = files("great_expectations").joinpath("render/view/static/styles/data_docs_default_styles.css")
    default_css = re.sub(r"url\(\s*['\"]?https?://[^)]*\)", "none", styles.read_text(encoding="utf-8"))
    return {
        "page.j2": _PAGE,
        "top_navbar.j2": _NAVBAR,
        "js_script_imports.j2": "",
        "favicon.j2": "",
        "cloud-footer.j2": "",
        "page_action_card.j2": "",
        "data_docs_default_styles.css": default_css,
        "gate_offline.css": _OFFLINE_CSS,
    }


def _page_view() -> Any:
    from great_expectations.render.view import DefaultJinjaPageView
    from jinja2 import ChoiceLoader, DictLoader

    class OfflinePageView(DefaultJinjaPageView):
        """GX's page view with the templates above taking precedence over GX's own."""

        def __init__(self) -> None:
            super().__init__()
            assert self.env.loader is not None
            self.env.loader = ChoiceLoader([DictLoader(_templates()), self.env.loader])

    return OfflinePageView()


EXCEPTION_TABLE_HEADER = ["Rule", "Expectation", "Column", "Exception code", "Status", "Unexpected rows"]


def _exception_table(validation_results: Any) -> Any:
    """A table of every expectation with the exception code its failures are given."""
    from great_expectations.render import RenderedStringTemplateContent, RenderedTableContent

    rows = []
    for evr in validation_results.results:
        config = evr.expectation_config
        meta = dict(config.meta or {}) if config is not None else {}
        result = evr.result or {}
        rows.append([
            str(meta.get("rule", "")),
            config.type if config is not None else "",
            str(meta.get("column", "")),
            str(meta.get("code", "")),
            "passed" if evr.success else "failed",
            str(result.get("unexpected_count", "")) if "unexpected_count" in result else "",
        ])
    return RenderedTableContent(
        content_block_type="table",
        header=RenderedStringTemplateContent(content_block_type="string_template", string_template={
            "template": "Expectations and the exception codes of their findings", "tag": "h6",
            "styling": {"classes": ["m-0"]}}),
        table=rows,
        header_row=EXCEPTION_TABLE_HEADER,
        styling={"classes": ["col-12", "table-responsive", "mt-1", "p-1"],
                 "body": {"classes": ["table", "table-sm"]}},
    )


def _page_renderer() -> Any:
    from great_expectations.render import RenderedSectionContent
    from great_expectations.render.renderer import ValidationResultsPageRenderer

    class GatePageRenderer(ValidationResultsPageRenderer):
        """GX's validation page, plus a section listing each expectation's rule and exception code, and
        with the suite name as text rather than a link into a Data Docs site that does not exist here.

        (GX's own "meta properties" columns cannot be used: in 1.24.1 they travel in the expectation's
        kwargs, which ``ExpectationConfiguration.to_domain_obj`` then refuses as an extra field.)"""

        def render(self, validation_results: Any, suite_parameters: Any = None) -> Any:
            document = super().render(validation_results, suite_parameters)
            document.sections.insert(1, RenderedSectionContent(
                section_name="Exception codes", content_blocks=[_exception_table(validation_results)]))
            return document

        @classmethod
        def _render_validation_header(cls, validation_results: Any) -> Any:
            header = super()._render_validation_header(validation_results)
            header.subheader.string_template.get("styling", {}).get("params", {}).pop("expectation_suite_name", None)
            return header

    return GatePageRenderer()


def render_html(result: dict[str, Any], title: str) -> str:
    """The HTML page of a validation result dict (as ``GateResult.result``)."""
    from great_expectations.core.expectation_validation_result import expectationSuiteValidationResultSchema

    from validations.context import gx_context

    gx_context()  # settings, and the custom expectations registered (their renderers too)
    validation = expectationSuiteValidationResultSchema.load(result)
    document = _page_renderer().render(validation)
    return str(_page_view().render(document, gate_title=title))


def render_data_docs(result: dict[str, Any], out_path: Path, title: str) -> Path:
    """Write the Data Docs page of ``result`` to ``out_path`` (atomically); return the path."""
    out_path = Path(out_path)
    html = render_html(result, title)
    out_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out_path.name}.", suffix=".tmp", dir=out_path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(html)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp makes it 0600, kept: the page may quote a failing expectation's values, national ids too
        os.replace(tmp, out_path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out_path
