"""The audit of the page states (a11y.py) finds what it is meant to find, with JavaScript
and without, on a page made inaccessible on purpose."""

import pytest

from tests.browser.a11y import PageStates

pytestmark = pytest.mark.browser

URL = "http://a11y.test/"
# No language, an image without a text alternative, a block wider than the window, and
# inside <noscript> a second image that only a browser without JavaScript shows.
BAD_PAGE = """<!doctype html><html><head><title>Page inaccessible</title></head><body>
<main><h1>Page inaccessible</h1><img id="shown" src="data:,">
<noscript><img id="unscripted" src="data:,"></noscript>
<div id="wide" style="width: 2000px">Trop large</div></main></body></html>"""


@pytest.mark.parametrize(("javascript", "images"), [
    (True, ["#shown"]),
    (False, ["#shown", "#unscripted"]),
])
def test_every_violation_and_the_horizontal_scroll_are_found(new_page, request, javascript,
                                                             images):
    page = new_page(java_script_enabled=javascript)
    page.route(URL, lambda route: route.fulfill(body=BAD_PAGE, content_type="text/html"))
    page.goto(URL)
    states = PageStates(request.node.name)
    try:
        states(page, "inaccessible")
    finally:
        states.close()

    found = {(finding.rule, finding.target) for finding in states.findings}
    assert {rule for rule, _target in found} >= {"html-has-lang", "image-alt",
                                                  "horizontal-scroll"}
    assert sorted(target for rule, target in found if rule == "image-alt") == images
    assert ("horizontal-scroll", "div#wide") in found
    assert states.findings[0].state == "01-inaccessible"
    assert (states.directory / "01-inaccessible.png").stat().st_size > 0
