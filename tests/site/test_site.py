"""The built textbook in a real browser: every page loads, its images and math render,
nothing is fetched from outside, and search works."""

from __future__ import annotations

import time

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from tests.site.conftest import ARTIFACTS, pages

#: Pages that must exist (the curriculum so far, the engine page and the API reference).
EXPECTED = ["", "concepts/neuron/", "concepts/tensors/", "concepts/activations/",
            "concepts/losses/", "concepts/backpropagation/", "concepts/gradient-descent/",
            "concepts/optimizers/", "concepts/initialization/", "concepts/dropout/",
            "concepts/batch-normalization/", "concepts/convolution/",
            "concepts/transposed-convolution/", "concepts/pooling/", "concepts/recurrent/",
            "concepts/vanishing-gradients/", "concepts/lstm/", "concepts/gru/", "models/cnn/",
            "models/char-rnn/",
            "models/mlp-fashion-mnist/", "engine/",
            "api/atlas/", "api/nn/", "api/kernels/"]


def open_page(browser, server, path):
    browser.get(server.base + path)
    WebDriverWait(browser, 20).until(
        lambda d: d.execute_script("return document.readyState") == "complete")


def prose(browser):
    """The visible text of the page's article without its code blocks (kernel source shows
    docstrings with TeX in them, as it should)."""
    return browser.execute_script(
        "const copy = document.querySelector('article').cloneNode(true);"
        "copy.querySelectorAll('pre, code, .katex').forEach(e => e.remove());"
        "document.body.appendChild(copy); const text = copy.innerText; copy.remove();"
        "return text;")


def test_every_expected_page_was_built(built_site):
    built = set(pages(built_site))
    missing = [p for p in EXPECTED if p not in built]
    assert not missing, f"pages missing from the site: {missing}"


def test_every_page_loads_with_its_images_and_math(built_site, server, browser):
    problems = []
    for path in pages(built_site):
        server.requests.clear()
        open_page(browser, server, path)
        # Images: every <img> finished loading and has pixels.
        broken = browser.execute_script(
            "return [...document.images].filter(i => !i.complete || i.naturalWidth === 0)"
            ".map(i => i.getAttribute('src'))")
        if broken:
            problems.append(f"{path}: images not loaded: {broken}")
        # Math: every arithmatex element typeset by KaTeX, no error, no raw TeX visible.
        math = browser.execute_script(
            "const all = [...document.querySelectorAll('.arithmatex')];"
            "return {total: all.length,"
            " typeset: all.filter(e => e.querySelector('.katex')).length,"
            " errors: document.querySelectorAll('.katex-error').length};")
        if math["typeset"] != math["total"] or math["errors"]:
            problems.append(f"{path}: math typeset {math['typeset']}/{math['total']}, "
                            f"{math['errors']} KaTeX errors")
        text = prose(browser)
        for raw in ("$$", "\\frac", "\\(", "\\["):
            if raw in text:
                problems.append(f"{path}: raw TeX {raw!r} visible")
        # Requests: none failed, none left this machine's server.
        failed = [(p, code) for p, code in server.requests if not 200 <= int(code) < 400]
        if failed:
            problems.append(f"{path}: failed requests {failed}")
        outside = browser.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name)"
            ".filter(n => !n.startsWith(location.origin) && !n.startsWith('data:')"
            " && !n.startsWith('blob:'))")
        if outside:
            problems.append(f"{path}: requests outside the site: {outside}")
        severe = [entry["message"] for entry in browser.get_log("browser")
                  if entry["level"] == "SEVERE"]
        if severe:
            problems.append(f"{path}: console errors: {severe}")
    assert not problems, "\n".join(problems)


def test_pages_with_math_have_typeset_equations(server, browser):
    open_page(browser, server, "concepts/backpropagation/")
    count = browser.execute_script("return document.querySelectorAll('.katex-display').length")
    assert count >= 3
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "backpropagation.png"))


def test_numbers_computed_at_build_time_are_on_the_page(server, browser):
    open_page(browser, server, "concepts/neuron/")
    text = browser.find_element(By.TAG_NAME, "article").text
    for expected in ("weighted sum z = -1.6500", "sigmoid(z) = 0.1611", "tanh(z) = -0.9289",
                     "relu(z) = 0.0000"):
        assert expected in text
    open_page(browser, server, "concepts/backpropagation/")
    text = browser.find_element(By.TAG_NAME, "article").text
    assert "0.298371109" in text and "0.751365070" in text


@pytest.mark.parametrize("query", ["convolution", "backprop"])
def test_search_finds_a_page(server, browser, query):
    open_page(browser, server, "")
    box = WebDriverWait(browser, 10).until(EC.element_to_be_clickable((By.CSS_SELECTOR,
                                                                      "input.md-search__input")))
    box.click()
    box.send_keys(query)
    expected = "backpropagation" if query == "backprop" else ""
    deadline = time.time() + 20
    links = []
    # The results re-render while the index loads and the query is typed: read their links
    # in one script call (no element handle can go stale) until the expected page shows.
    while time.time() < deadline and not any(expected in link for link in links):
        links = browser.execute_script(
            "return Array.from(document.querySelectorAll('.md-search-result__item a'))"
            ".map(a => a.href)")
        time.sleep(0.2)
    assert links, f"search for {query!r} returned nothing"
    assert any(expected in link for link in links), links


def test_dark_palette_keeps_figures_readable(server, browser):
    open_page(browser, server, "concepts/activations/")
    browser.execute_script("document.body.setAttribute('data-md-color-scheme', 'slate')")
    background = browser.execute_script(
        "return getComputedStyle(document.querySelector('article img')).backgroundColor")
    assert background == "rgb(255, 255, 255)"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "activations-dark.png"))
