"""When a page is ready to read: a plugin's ``wait_for``, checked inside the browser.

``wait_for`` is a CSS selector, a JavaScript predicate (:func:`js`), a Python
callable on the :class:`~scrapers.tab.Tab`, or a list of those (any one
suffices). Selectors and JavaScript predicates are compiled into one
expression that a script polls in the page every 20 ms, so readiness costs one
WebDriver round trip per second of waiting instead of one per poll, and the
HTML is taken the moment the data is there: never at the load event, and never
after third-party resources or an idle network.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence, Union

if TYPE_CHECKING:
    from scrapers.tab import Tab


@dataclass(frozen=True)
class JsPredicate:
    """A JavaScript expression that is truthy once the page holds its data."""

    expression: str


def js(expression: str) -> JsPredicate:
    """A readiness predicate in JavaScript, for ``Plugin.wait_for``.

    Example: ``wait_for = js("typeof window.products !== 'undefined'")``: the
    inline product array has run, whatever its rendering script is doing.
    """
    if not expression.strip():
        raise ValueError("js(): the expression is empty")
    return JsPredicate(expression)


TabPredicate = Callable[["Tab"], bool]
Condition = Union[str, JsPredicate, TabPredicate]
WaitFor = Union[None, Condition, Sequence[Condition]]


@dataclass(frozen=True)
class Readiness:
    """A ``wait_for`` split into what runs in the page and what runs in Python."""

    # One JavaScript expression for every selector and JS predicate (None: there are none).
    expression: str | None
    tab_predicates: tuple[TabPredicate, ...]

    @property
    def wait_script(self) -> str:
        """The in-page poll with the expression inlined (not eval'ed: a page's CSP may forbid eval)."""
        return self.wait_script_taking(html=False)

    def wait_script_taking(self, *, html: bool) -> str:
        """The in-page poll; with ``html``, it also returns the HTML the moment readiness holds (one
        round trip instead of two) and stops the page's loads right after answering."""
        check = f"() => ({self.expression})" if self.expression else "() => document.readyState !== 'loading'"
        return WAIT_SCRIPT.replace("__CHECK__", check).replace("__TAKE_HTML__", "true" if html else "false")

    @property
    def waits(self) -> bool:
        return self.expression is not None or bool(self.tab_predicates)

    def describe(self) -> str:
        parts = [self.expression] if self.expression else []
        parts += [getattr(p, "__name__", repr(p)) for p in self.tab_predicates]
        text = " or ".join(parts)
        return text if len(text) <= 160 else text[:157] + "..."


def readiness(wait_for: WaitFor) -> Readiness:
    """Compile a plugin's ``wait_for``; raises TypeError for anything else than the forms above."""
    if wait_for is None:
        return Readiness(None, ())
    conditions = [wait_for] if isinstance(wait_for, (str, JsPredicate)) or callable(wait_for) else list(wait_for)
    expressions: list[str] = []
    tab_predicates: list[TabPredicate] = []
    for condition in conditions:
        if isinstance(condition, str):
            if not condition.strip():
                raise TypeError("wait_for: an empty selector")
            expressions.append(f"document.querySelector({json.dumps(condition)}) !== null")
        elif isinstance(condition, JsPredicate):
            expressions.append(f"({condition.expression})")
        elif callable(condition):
            tab_predicates.append(condition)
        else:
            raise TypeError(f"wait_for: expected a CSS selector, js(...) or a callable, got {type(condition).__name__}")
    return Readiness(" || ".join(expressions) or None, tuple(tab_predicates))


# Polls in the page (the check is inlined by Readiness.wait_script) for at most one slice, until
# the new document is ready or answered with an error status. window.__scrapelinePrevious marks the
# page before this navigation: a check must never pass on the previous page while the new one is on
# its way. Returns {arrived: false} while the previous page is on screen, else {arrived, status,
# ready, failed, responseStart} (failed: the browser's own error page, e.g. a name not resolved).
WAIT_SCRIPT = """
const sliceMs = arguments[0], done = arguments[arguments.length - 1];
const until = Date.now() + sliceMs;
const check = __CHECK__;
(function poll() {
  let state = {arrived: false};
  if (!window.__scrapelinePrevious && location.href !== 'about:blank' && location.protocol !== 'chrome:') {
    const navigation = performance.getEntriesByType('navigation')[0];
    const status = navigation && navigation.responseStatus ? navigation.responseStatus : null;
    state = {arrived: true, status: status, ready: false, failed: location.protocol === 'chrome-error:',
             responseStart: navigation ? navigation.responseStart : 0};
    if (state.failed) {
      // Chrome's own error page says why: "HTTP ERROR 404" (an error with an empty body) or "ERR_...".
      const reason = ((document.body && document.body.innerText) || '').match(/HTTP ERROR \\d+|ERR_[A-Z_]+/);
      state.reason = reason ? reason[0] : null;
      if (document.readyState === 'loading') state = {arrived: false};
    }
    if (!state.failed && !(status !== null && status >= 400)) {
      try { state.ready = !!check(); } catch (error) { state.ready = false; }
    }
    if (state.ready && __TAKE_HTML__) {
      const started = performance.now();
      state.html = document.documentElement.outerHTML;
      state.url = location.href;
      state.htmlMs = performance.now() - started;
      setTimeout(() => window.stop(), 0);  // after the answer is on its way: nothing of this page competes with the next
    }
    if (state.ready || state.failed || (status !== null && status >= 400)) { done(state); return; }
  }
  if (Date.now() >= until) { done(state); return; }
  setTimeout(poll, 20);
})();
"""

# Marks the page on screen as the previous one and navigates; returns at once (no load wait).
# A URL that differs from the current one only by its #fragment would not load a new document.
NAVIGATE_SCRIPT = """
window.__scrapelinePrevious = true;
const target = new URL(arguments[0], location.href);
if (target.href === location.href) { location.reload(); }
else if (target.href.split('#')[0] === location.href.split('#')[0]) { location.replace(target.href); location.reload(); }
else { location.href = target.href; }
"""

# The rendered HTML, where the browser is, and the status; then stop every load still running,
# so nothing of this page competes with the next one.
SNAPSHOT_SCRIPT = """
const navigation = performance.getEntriesByType('navigation')[0];
const snapshot = [document.documentElement.outerHTML, location.href,
                  navigation && navigation.responseStatus ? navigation.responseStatus : null];
window.stop();
return snapshot;
"""

# The Retry-After of the page on screen (429/503): asked with HEAD on the same origin, or GET where
# the server does not do HEAD.
RETRY_AFTER_SCRIPT = """
const done = arguments[arguments.length - 1];
const ask = method => fetch(location.href, {method: method, cache: 'no-store', credentials: 'include'});
ask('HEAD')
  .then(response => [405, 501].includes(response.status) ? ask('GET') : response)
  .then(response => done(response.headers.get('retry-after')))
  .catch(() => done(null));
"""
