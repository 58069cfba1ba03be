"""What every page state of the browser journeys must pass, and a picture of it.

``PageStates`` (the ``check`` fixture of conftest.py) audits the page in front of the
person at each state a journey reaches:

- axe-core (``node_modules/axe-core``, pinned in package.json) with the WCAG 2.0, 2.1
  and 2.2 rules of levels A and AA and axe's best practices; every violation counts,
  whatever its impact;
- no horizontal scroll (WCAG 1.4.10, Reflow): ``scrollWidth <= innerWidth``;
- a full-page screenshot, ``tests/browser/screenshots/<test>/<NN>-<state>.png``
  (git-ignored), so that a reviewer can look at every page after a run.

A finding does not stop the journey: the states after it are audited too, and the
test fails at its end with all of them (conftest.py, ``pytest_runtest_call``).

axe is evaluated through the DevTools protocol (``page.evaluate`` of its source), which
the page's Content-Security-Policy (``script-src 'self'``, idp/headers.py) does not
govern, so the page keeps its real CSP. A context with ``bypass_csp=True`` would have
let axe in as a script tag, but would also run a script the CSP blocks, in the very
journeys that prove the pages work under it.

Without JavaScript, Chromium runs none of the callbacks axe waits on: the DOM the
person sees (``page.content()``, ``<noscript>`` content unwrapped, as a parser without
scripting reads it) is audited in a second page, of a context with JavaScript, where
the same URL answers with that DOM and every script request is refused.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import Page
from playwright.sync_api import Route

ROOT = Path(__file__).resolve().parents[2]
AXE_SOURCE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"

# axe-core's tags for WCAG 2.0, 2.1 and 2.2, levels A and AA, and its best practices.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa", "best-practice"]

RUN_AXE = """async (tags) => {
  const results = await axe.run(document, {runOnly: {type: "tag", values: tags},
                                           resultTypes: ["violations"]});
  return results.violations.map(rule => ({
    rule: rule.id, impact: rule.impact, help: rule.help,
    targets: rule.nodes.map(node => node.target.join(" ")),
  }));
}"""

# The page's width beyond the window, and the innermost elements that stick out of it
# (those inside a box that scrolls or clips within the window do not count).
HORIZONTAL_OVERFLOW = """() => {
  const width = window.innerWidth;
  const scrollWidth = document.documentElement.scrollWidth;
  if (scrollWidth <= width) return null;
  const sticksOut = element => element.getBoundingClientRect().right > width + 0.5;
  const contained = element => {
    for (let box = element.parentElement; box; box = box.parentElement) {
      if (getComputedStyle(box).overflowX !== "visible" && !sticksOut(box)) return true;
    }
    return false;
  };
  const wide = [...document.body.querySelectorAll("*")]
    .filter(element => sticksOut(element) && !contained(element));
  const name = element => element.tagName.toLowerCase()
    + (element.id ? "#" + element.id : "")
    + [...element.classList].map(c => "." + c).join("");
  return {scrollWidth, width, elements: wide
    .filter(element => !wide.some(other => other !== element && element.contains(other)))
    .slice(0, 5).map(name)};
}"""

# Once opened, a DSFR modal or collapse fades in: audited half-drawn, its colours would
# be the transition's. Endless animations (a spinner) never settle and are let be.
SETTLED = """() => document.getAnimations().every(animation =>
  animation.playState !== "running" || animation.effect.getTiming().iterations === Infinity)"""

# The fragment parser follows the document's scripting flag: with scripting off, the
# content of <noscript> becomes elements (HTML, « parsing HTML fragments »).
SCRIPTING_DISABLED = """() => {
  const box = document.createElement("div");
  box.innerHTML = "<noscript><i></i></noscript>";
  return box.firstChild.childElementCount === 1;
}"""


@dataclass(frozen=True)
class Finding:
    state: str
    rule: str  # an axe rule id, or "horizontal-scroll"
    impact: str
    target: str
    help: str

    def __str__(self) -> str:
        return f"{self.state}: {self.rule} ({self.impact}) {self.target} — {self.help}"


class PageStates:
    """The page states one test visits, numbered in order, and what was found on them."""

    def __init__(self, test_name: str):
        self.directory = SCREENSHOTS / re.sub(r"[^\w.-]+", "_", test_name)
        shutil.rmtree(self.directory, ignore_errors=True)  # no picture of an older run
        self.states: list[str] = []
        self.findings: list[Finding] = []
        self._scripted: Page | None = None  # audits the pages shown without JavaScript
        self._snapshot: tuple[str, str] | None = None  # (url, html) it answers with

    def __call__(self, page: Page, state: str) -> None:
        """Audit the page as it is now, under the name ``state`` (a short slug)."""
        name = f"{len(self.states) + 1:02d}-{state}"
        self.states.append(name)
        page.wait_for_load_state()
        scripted = not page.evaluate(SCRIPTING_DISABLED)
        if scripted:  # without scripts nothing opens a modal, and nothing could poll
            page.wait_for_function(SETTLED)
        self.directory.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=self.directory / f"{name}.png", full_page=True)
        overflow = page.evaluate(HORIZONTAL_OVERFLOW)
        if overflow:
            self.findings.append(Finding(
                name, "horizontal-scroll", "reflow", " ".join(overflow["elements"]),
                f"the page is {overflow['scrollWidth']} px wide in a window of "
                f"{overflow['width']} px"))
        for rule in self._axe(page if scripted else self._with_scripts(page)):
            self.findings.extend(Finding(name, rule["rule"], rule["impact"] or "?", target,
                                         rule["help"]) for target in rule["targets"])

    @staticmethod
    def _axe(page: Page) -> list[dict]:
        if not page.evaluate("() => typeof window.axe === 'object'"):
            page.evaluate(AXE_SOURCE.read_text())
        return page.evaluate(RUN_AXE, AXE_TAGS)

    def _with_scripts(self, page: Page) -> Page:
        """The DOM of a page without JavaScript, in a page where axe can run."""
        html = re.sub(r"</?noscript>", "", page.content())
        url = page.url.split("#")[0]  # a request's URL has no fragment
        self._snapshot = (url, html)
        if self._scripted is None:
            context = page.context.browser.new_context(locale="fr-FR")
            self._scripted = context.new_page()
            self._scripted.route("**/*", self._answer)
        context = self._scripted.context
        context.clear_cookies()
        context.add_cookies(page.context.cookies())  # images such as the captcha's
        self._scripted.set_viewport_size(page.viewport_size)
        self._scripted.goto(url)
        return self._scripted

    def _answer(self, route: Route) -> None:
        request = route.request
        if request.resource_type == "document" and request.url == self._snapshot[0]:
            route.fulfill(body=self._snapshot[1], content_type="text/html; charset=utf-8")
        elif request.resource_type == "script":
            route.abort()
        else:
            route.continue_()

    def report(self) -> str:
        """Every finding, for the test's failure."""
        return "\n".join([
            f"{len(self.findings)} accessibility finding(s) on {len(self.states)} page "
            f"state(s); screenshots in {self.directory.relative_to(ROOT)}/:",
            *map(str, self.findings)])

    def close(self) -> None:
        if self._scripted is not None:
            self._scripted.context.close()
