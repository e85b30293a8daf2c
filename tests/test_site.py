"""`make book`'s site: executed notebooks rendered by Sphinx + MyST-NB into a navigable, searchable
site. Built here from three tiny fake "executed" notebooks (no kernel runs), once per module."""

import base64
import io
import json
import re

import pytest

pytest.importorskip("myst_nb", reason="the book extra is not installed (pip install -e '.[book]')")
pytest.importorskip("sphinx_book_theme", reason="the book extra is not installed (pip install -e '.[book]')")

from visrec_book import site  # noqa: E402


def _png() -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (24, 16), (200, 30, 30)).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def _notebook(path, title: str, body: str, figure: bool = False, widget: bool = False) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    guard = nbformat.v4.new_code_cell("import visrec_book.netguard as _netguard  # HARNESS-ONLY")
    guard.metadata["tags"] = ["netguard"]
    nb.cells = [guard, nbformat.v4.new_markdown_cell(f"# {title}\n\n{body}")]
    if figure:
        cell = nbformat.v4.new_code_cell("plot()", execution_count=1)
        cell.outputs = [nbformat.v4.new_output("display_data", data={"image/png": _png(), "text/plain": "<Figure>"})]
        nb.cells.append(cell)
    if widget:  # an ipywidgets app's output, as an executed notebook stores it
        cell = nbformat.v4.new_code_cell("app()", execution_count=2)
        view = {"model_id": "m1", "version_major": 2, "version_minor": 0}
        cell.outputs = [nbformat.v4.new_output("display_data", data={
            "application/vnd.jupyter.widget-view+json": view, "text/plain": "VBox()"})]
        nb.cells.append(cell)
        nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {
            "state": {"m1": {"model_name": "VBoxModel", "model_module": "@jupyter-widgets/controls",
                             "model_module_version": "2.0.0", "state": {}}}, "version_major": 2, "version_minor": 0}}
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    out = tmp_path_factory.mktemp("book")
    ex = out / "executed"
    ex.mkdir()
    _notebook(ex / "00_start_here.ipynb", "Start here",
              "Begin with [q01 · Zebra](q01_zebra.ipynb). Terms: [Glossary · 术语表](glossary.md).")
    _notebook(ex / "q01_zebra.ipynb", "q01 · How do zebras recommend stripes?",
              "The zebrafishology answer. Then try [the task](t01_stripes.ipynb).", figure=True)
    _notebook(ex / "t01_stripes.ipynb", "t01 · Write a stripe counter", "Count the stripes.", widget=True)
    entries = [{"stem": s, "status": "ok", "seconds": 1.0} for s in ("00_start_here", "q01_zebra", "t01_stripes")]
    records = {"q01_zebra": {"q01.stripes_per_zebra": 42.5}}
    index = site.render_site(out, sorted(ex.glob("*.ipynb")), entries, records)
    return out, index


def _sidebar(html: str) -> dict[str, list[str]]:
    """Sidebar captions -> the page links listed under each."""
    nav = html[html.index('class="bd-sidebar-primary'):]
    nav = nav[:nav.index("</nav>")]
    parts = re.split(r'<p aria-level="2" class="caption" role="heading"><span class="caption-text">([^<]+)</span>', nav)
    return {parts[i]: re.findall(r'href="([^"]+)"', parts[i + 1]) for i in range(1, len(parts), 2)}


def test_sidebar_lists_the_pages_by_part(book):
    out, index = book
    sidebar = _sidebar(index.read_text(encoding="utf-8"))
    assert sidebar == {"Start": ["00_start_here.html", "results.html", "glossary.html"], "Questions": ["q01_zebra.html"],
                       "Tasks": ["t01_stripes.html"]}
    # every page carries the same sidebar, its own entry linking to itself ("#")
    assert _sidebar((index.parent / "q01_zebra.html").read_text(encoding="utf-8")) == dict(sidebar, Questions=["#"])


def test_search_index_holds_the_words_and_titles_of_the_pages(book):
    out, index = book
    text = (index.parent / "searchindex.js").read_text(encoding="utf-8")
    data = json.loads(text[text.index("(") + 1:text.rindex(")")])
    assert any(term.startswith("zebrafish") for term in data["terms"])
    assert "q01 · How do zebras recommend stripes?" in data["titles"]
    assert (index.parent / "search.html").exists()


def test_notebook_links_become_links_between_pages(book):
    out, index = book
    q01 = (index.parent / "q01_zebra.html").read_text(encoding="utf-8")
    assert re.search(r'<a class="reference internal" href="t01_stripes.html">', q01)
    start = (index.parent / "00_start_here.html").read_text(encoding="utf-8")
    assert 'href="q01_zebra.html"' in start


def test_glossary_page_lists_the_terms_and_the_start_page_links_it(book):
    out, index = book
    page = (index.parent / "glossary.html").read_text(encoding="utf-8")
    assert "术语表" in page and "Metrics and evaluation" in page
    for english, chinese in [("precision", "精确率"), ("cold start", "冷启动"), ("collaborative filtering", "协同过滤")]:
        assert re.search(rf"<td><p>{re.escape(english)}</p></td>\s*<td><p>{re.escape(chinese)}", page), english
    start = (index.parent / "00_start_here.html").read_text(encoding="utf-8")
    assert re.search(r'<a class="reference internal" href="glossary.html">', start)


def test_figures_are_images_on_the_page(book):
    out, index = book
    q01 = (index.parent / "q01_zebra.html").read_text(encoding="utf-8")
    srcs = re.findall(r'<img[^>]+src="(_images/[^"]+\.png)"', q01)
    assert srcs and all((index.parent / s).stat().st_size > 50 for s in srcs)


def test_harness_cells_are_not_shown(book):
    out, index = book
    assert "HARNESS-ONLY" not in (index.parent / "q01_zebra.html").read_text(encoding="utf-8")


def test_results_page_shows_status_and_recorded_figures(book):
    out, index = book
    results = (index.parent / "results.html").read_text(encoding="utf-8")
    assert "q01.stripes_per_zebra" in results and "42.5" in results
    assert 'href="q01_zebra.html"' in results


def test_out_index_redirects_to_the_site(book):
    out, index = book
    assert 'url=site/index.html' in (out / "index.html").read_text(encoding="utf-8")
    assert (out / "sphinx.log").exists()  # Sphinx's warnings are kept, not lost


def test_results_page_escapes_table_separators():
    page = site.results_page([{"stem": "q01_x", "status": "FAILED: a|b", "seconds": 2.0}], {"q01_x": {"k": "1|2"}})
    assert "FAILED: a\\|b" in page and '"1\\|2"' in page


@pytest.mark.parametrize("stem, part", [("00_start_here", "Start"), ("q07_evaluation", "Questions"),
                                         ("t10_style_transfer", "Tasks"), ("practice", None)])
def test_part_of(stem, part):
    assert site.part_of(stem) == part


def test_pages_load_no_script_from_another_host(book):
    out, index = book
    for page in index.parent.glob("*.html"):
        assert not re.search(r'<script[^>]+src="(https?:)?//', page.read_text(encoding="utf-8")), page.name
