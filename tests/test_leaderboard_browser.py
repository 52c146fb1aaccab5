"""The exported site and the served app in headless Chromium: renders, sorts, uploads, and stays inert to XSS.

Needs Debian's ``chromium`` and ``chromium-driver`` (CI installs them); skipped with the reason otherwise.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from pathlib import Path

import pytest

from leaderboard.service import submit
from leaderboard.store import open_store
from leaderboard.validate import SplitIndex
from test_leaderboard_hardening import serving
from test_leaderboard_validate import jsonl, make_tiny_split, rows_for

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
                       reason="headless Chromium not installed (apt-get install chromium chromium-driver)"),
]

# each payload, if it ever ran, would set window.__xss (or open an alert, which fails every later call)
XSS_NAME = '<img src=x onerror="window.__xss=\'name\'"><script>window.__xss="script"</script>'
XSS_META = 'note="><svg onload="window.__xss=\'meta\'"><script>alert(1)</script>'
XSS_UPLOAD = "</td><script>window.__xss='upload'</script><b onmouseover=alert(3)>x</b>"


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="timer1-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={profile}", "--window-size=1400,1000"):
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=opts)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    d = make_tiny_split(tmp_path_factory.mktemp("tiny_split"))
    return d, SplitIndex.from_dir(d)


def seed_store(db: Path, split_dir, idx):
    store = open_store(db)
    submit(store, jsonl(rows_for(idx, 9)), split_dir, model_name=XSS_NAME, meta=[XSS_META], bootstrap=50)
    submit(store, jsonl(rows_for(idx, 12, shift=2.5)), split_dir, model_name="shifted-full", bootstrap=50)
    submit(store, jsonl(rows_for(idx, 4)), split_dir, model_name="partial", bootstrap=50)
    return store


def column(driver, table, header: str) -> list[str]:
    heads = [th.text.strip().rstrip("▲▼ ").strip() for th in table.find_elements("css selector", "thead th")]
    col = heads.index(header)
    return [row.find_elements("tag name", "td")[col].get_attribute("data-value")
            for row in table.find_elements("css selector", "tbody tr")]


def click_header(table, header: str) -> None:
    for th in table.find_elements("css selector", "thead th"):
        if th.text.strip().rstrip("▲▼ ").strip() == header:
            th.find_element("tag name", "button").click()
            return
    raise AssertionError(f"no column {header}")


def assert_inert(driver) -> None:
    assert driver.execute_script("return window.__xss === undefined") is True
    assert driver.execute_script("return document.querySelectorAll('main script, main img, main svg[onload]').length") == 0


def check_board(driver) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 20).until(lambda d: d.find_elements("css selector", "table.leaderboard tbody tr"))
    table = driver.find_element("css selector", "table.leaderboard")
    rows = table.find_elements("css selector", "tbody tr")
    assert len(rows) >= 3
    names = [r.find_element("css selector", "td.model a").text for r in rows]
    assert XSS_NAME in names  # shown as text, exactly as submitted
    assert any(XSS_META in el.text for el in table.find_elements("css selector", ".kv"))
    # R1@0.5 (the default ranking) descends; clicking mIoU sorts by it, clicking again reverses
    r05 = [float(v) for v in column(driver, table, "R1@0.5")]
    assert r05 == sorted(r05, reverse=True)
    click_header(table, "mIoU")
    miou = [float(v) for v in column(driver, table, "mIoU")]
    assert miou == sorted(miou, reverse=True) and len(set(miou)) > 1
    click_header(table, "mIoU")
    assert [float(v) for v in column(driver, table, "mIoU")] == sorted(miou)
    click_header(table, "Model")
    models = column(driver, table, "Model")
    assert models == sorted(models, key=str.lower)
    assert_inert(driver)


def test_exported_site_renders_sorts_and_is_inert(browser, tiny, tmp_path):
    from leaderboard.html import export_site

    split_dir, idx = tiny
    store = seed_store(tmp_path / "lb.db", split_dir, idx)
    export_site(store, tmp_path / "site", sort="R1@0.5")
    browser.get((tmp_path / "site" / "index.html").as_uri())
    check_board(browser)
    link = [a for a in browser.find_elements("css selector", "td.model a") if a.text == XSS_NAME][0]
    link.click()
    assert browser.find_element("id", "model-name").text == XSS_NAME
    charts = browser.find_elements("css selector", ".chart")
    assert {c.get_attribute("data-breakdown") for c in charts} == {"qtype", "source", "videolen"}
    assert len(browser.find_elements("css selector", ".chart svg rect")) >= 4 * 3
    assert_inert(browser)


@pytest.fixture
def served(tiny, tmp_path):
    from leaderboard.server import create_app

    split_dir, idx = tiny
    store = seed_store(tmp_path / "lb.db", split_dir, idx)
    app = create_app(store, split_dirs=[str(split_dir)], token="browser-token-123", bootstrap=50)
    with serving(app) as port:
        yield f"http://127.0.0.1:{port}", idx


def test_served_page_renders_sorts_uploads_and_is_inert(browser, served, tmp_path):
    from selenium.webdriver.support.ui import WebDriverWait

    url, idx = served
    browser.get(url + "/")
    check_board(browser)
    before = len(browser.find_elements("css selector", "table.leaderboard tbody tr"))
    preds = tmp_path / "upload.jsonl"
    preds.write_bytes(jsonl(rows_for(idx, 11, shift=0.5)))
    browser.find_element("id", "upload-file").send_keys(str(preds))
    browser.find_element("id", "upload-model").send_keys(XSS_UPLOAD)
    browser.find_element("id", "upload-meta").send_keys("fps=2\nnote=<script>window.__xss='m'</script>")
    browser.find_element("id", "upload-token").send_keys("browser-token-123")
    browser.find_element("id", "upload-submit").click()
    WebDriverWait(browser, 30).until(lambda d: "submitted=" in d.current_url)
    notice = browser.find_element("id", "notice").text
    assert "Stored submission #4" in notice and XSS_UPLOAD in notice
    rows = browser.find_elements("css selector", "table.leaderboard tbody tr")
    assert len(rows) == before + 1
    new = browser.find_element("css selector", "tr.new")
    assert new.get_attribute("data-submission") == "4"
    assert new.find_element("css selector", "td.model a").text == XSS_UPLOAD
    assert_inert(browser)

    # a bad upload through the form: one line on the page, nothing added
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"qid": "no-such-query", "pred": [1, 2]}\n')
    browser.find_element("id", "upload-file").send_keys(str(bad))
    browser.find_element("id", "upload-model").send_keys("bad")
    browser.find_element("id", "upload-token").send_keys("browser-token-123")
    browser.find_element("id", "upload-submit").click()
    WebDriverWait(browser, 30).until(lambda d: d.find_elements("css selector", "#notice.error"))
    assert "not in split" in browser.find_element("id", "notice").text
    assert len(browser.find_elements("css selector", "table.leaderboard tbody tr")) == before + 1
    assert_inert(browser)


# ---- CSRF: a page of another origin posts to a tokenless loopback board (issue 13, item 10) ----------

ATTACK_PAGE = """<!doctype html><html><body>
<form id="f" method="post" action="BOARD/submit" enctype="multipart/form-data">
<input name="model_name" value="csrf-form"><input name="split" value="test">
<input type="file" name="file" id="file"></form>
<script>
const lines = LINES;
const blob = new Blob([lines.join("\\n") + "\\n"], {type: "application/jsonl"});
const body = new FormData();
body.append("model_name", "csrf-fetch"); body.append("split", "test"); body.append("file", blob, "p.jsonl");
const dt = new DataTransfer();
dt.items.add(new File([lines.slice(0, 5).join("\\n") + "\\n"], "q.jsonl", {type: "application/jsonl"}));
document.getElementById("file").files = dt.files;
// the fetch first, then the form navigates this page to the board's answer
fetch("BOARD/api/submissions", {method: "POST", mode: "no-cors", body})
  .finally(() => { document.getElementById("f").submit(); });
</script></body></html>"""


def _serve_static(folder: Path):
    import functools
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(folder))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


@pytest.fixture
def served_tokenless(tiny, tmp_path):
    from leaderboard.server import create_app

    split_dir, idx = tiny
    store = seed_store(tmp_path / "lb.db", split_dir, idx)
    app = create_app(store, split_dirs=[str(split_dir)], bootstrap=50)
    with serving(app) as port:
        yield f"http://127.0.0.1:{port}", idx, store


def test_a_page_of_another_origin_cannot_plant_submissions(browser, served_tokenless, tmp_path):
    import json as _json

    from selenium.webdriver.support.ui import WebDriverWait

    url, idx, store = served_tokenless
    before = store.count()
    lines = [_json.dumps(r) for r in rows_for(idx, shift=0.25)]
    site = tmp_path / "attacker"
    site.mkdir()
    (site / "index.html").write_text(ATTACK_PAGE.replace("BOARD", url).replace("LINES", _json.dumps(lines)))
    httpd = _serve_static(site)
    try:
        browser.get(f"http://127.0.0.1:{httpd.server_address[1]}/index.html")  # another origin: another port
        WebDriverWait(browser, 30).until(lambda d: d.current_url.startswith(url))  # the form was posted
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert store.count() == before, [s.model_name for s in store.submissions()]
    # the board's own form still works from its own origin
    browser.get(url + "/")
    preds = tmp_path / "own.jsonl"
    preds.write_text("\n".join(lines[:7]) + "\n")
    browser.find_element("id", "upload-file").send_keys(str(preds))
    browser.find_element("id", "upload-model").send_keys("own-origin")
    browser.find_element("id", "upload-submit").click()
    WebDriverWait(browser, 30).until(lambda d: "submitted=" in d.current_url)
    assert store.count() == before + 1


# ---- one board per benchmark: tabs (issue 16, item 7) ---------------------------------------------------

@pytest.fixture
def two_boards(tmp_path):
    from test_leaderboard_tabs import make_timelens_split, seed

    canonical = make_tiny_split(tmp_path / "tiny")
    timelens = make_timelens_split(tmp_path)
    splits = ((canonical, SplitIndex.from_dir(canonical)), (timelens, SplitIndex.from_dir(timelens)))
    store = open_store(tmp_path / "lb.db")
    seed(store, splits)
    return store, splits


def shown_panels(driver) -> list[str]:
    return [p.get_attribute("id") for p in driver.find_elements("css selector", "section.board") if p.is_displayed()]


def test_exported_tabs_show_one_board_at_a_time(browser, two_boards, tmp_path):
    from leaderboard.html import export_site

    store, _ = two_boards
    export_site(store, tmp_path / "site", sort="R1@0.5")
    browser.get((tmp_path / "site" / "index.html").as_uri())
    tabs = browser.find_elements("css selector", "nav.tabs [role=tab]")
    assert len(tabs) == 2 and {t.text for t in tabs} >= {"Charades-TimeLens · test"}
    first, second = (t.get_attribute("data-board") for t in tabs)
    assert shown_panels(browser) == [first] and tabs[0].get_attribute("aria-selected") == "true"
    timelens_tab = next(t for t in tabs if t.text == "Charades-TimeLens · test")
    timelens_tab.click()
    target = timelens_tab.get_attribute("data-board")
    assert shown_panels(browser) == [target] and timelens_tab.get_attribute("aria-selected") == "true"
    assert browser.current_url.endswith("#" + target)
    panel = browser.find_element("id", target)
    assert panel.get_attribute("data-convention") == "timelens"
    assert "declared convention, timelens" in panel.find_element("css selector", "p.convention").text
    table = panel.find_element("css selector", "table.leaderboard")
    # ranked in TimeLens's convention: four exact answers of four entries beat half of all of them
    assert [a.text for a in table.find_elements("css selector", "td.model a")] == ["four-exact", "all-half"]
    click_header(table, "Model")
    assert column(browser, table, "Model") == ["all-half", "four-exact"]
    other = first if target == second else second
    browser.get((tmp_path / "site" / "index.html").as_uri() + "#" + other)  # a link to a board opens its tab
    browser.refresh()
    assert shown_panels(browser) == [other]
    assert_inert(browser)


def test_served_tabs_open_the_board_a_submission_went_to(browser, two_boards, tmp_path):
    from selenium.webdriver.support.ui import Select, WebDriverWait

    from leaderboard.server import create_app

    store, ((c_dir, _), (t_dir, t_idx)) = two_boards
    app = create_app(store, split_dirs=[str(c_dir), str(t_dir)], bootstrap=50)
    with serving(app) as port:
        browser.get(f"http://127.0.0.1:{port}/")
        assert len(browser.find_elements("css selector", "nav.tabs [role=tab]")) == 2
        preds = tmp_path / "tl.jsonl"
        preds.write_bytes(jsonl(rows_for(t_idx, 6)))
        browser.find_element("id", "upload-file").send_keys(str(preds))
        browser.find_element("id", "upload-model").send_keys("six-exact")
        Select(browser.find_element("id", "upload-split")).select_by_visible_text("Charades-TimeLens · test")
        browser.find_element("id", "upload-submit").click()
        WebDriverWait(browser, 30).until(lambda d: "submitted=" in d.current_url)
        new = browser.find_element("css selector", "tr.new")
        panel = new.find_element("xpath", "ancestor::section")
        assert panel.get_attribute("data-convention") == "timelens" and new.is_displayed()
        assert shown_panels(browser) == [panel.get_attribute("id")]
        assert_inert(browser)
