"""Offline JavaScript assets for the attention views: d3 v5 and jQuery read from installed Python packages.

bertviz (Vig, 2019) loads d3 and jQuery from the network through require.js; we inline copies shipped in wheels instead."""

from __future__ import annotations

import importlib.util
import re
from functools import lru_cache
from pathlib import Path

from ptmlab.errors import DataError

# (package that ships the file, path inside that package, pip name that installs it)
D3_SOURCE = ("mpld3", "js/d3.v5.min.js", "mpld3")
JQUERY_SOURCE = ("xstatic.pkg.jquery", "data/jquery.min.js", "xstatic-jquery")


def _package_dir(package: str) -> Path | None:
    """Directory of an installed package, found without importing it (mpld3 would import matplotlib)."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _read_asset(source: tuple[str, str, str]) -> str:
    package, relative_path, pip_name = source
    directory = _package_dir(package)
    path = directory / relative_path if directory else None
    if path is None or not path.is_file():
        raise DataError(
            f"Cannot find {relative_path} from the Python package {package!r}; the offline attention views need it.",
            fix=f"pip install '{pip_name}' (it is a dependency of ptmlab; reinstalling ptmlab also brings it).",
        )
    return path.read_text(encoding="utf-8")


def script_safe(javascript: str) -> str:
    """Make JavaScript safe to place between <script> tags: '</script' or '<!--' inside would end or confuse the tag."""
    javascript = re.sub(r"</(script)", r"<\\/\1", javascript, flags=re.IGNORECASE)
    return javascript.replace("<!--", "<\\!--")


@lru_cache(maxsize=1)
def d3_js() -> str:
    """d3 v5 (the version bertviz is written for), minified, from the mpld3 wheel."""
    return script_safe(_read_asset(D3_SOURCE))


@lru_cache(maxsize=1)
def jquery_js() -> str:
    """jQuery 3 (minified) from the xstatic-jquery wheel; bertviz uses only selectors, events and .val()."""
    return script_safe(_read_asset(JQUERY_SOURCE))


# bertviz calls require.config({paths: {...}}) and then requirejs(['jquery', 'd3'], function ($, d3) {...}).
# This shim answers those calls from the globals the inlined libraries define, so nothing is fetched.
# It deliberately does not define `define`: d3 and jQuery would then register as AMD modules instead of globals.
REQUIRE_SHIM_JS = """
(function () {
  var modules = {
    jquery: function () { return window.jQuery; },
    d3: function () { return window.d3; }
  };
  function load(name) {
    var key = String(name).toLowerCase().replace(/\\.min$/, "");
    if (!(key in modules)) { throw new Error("ptmlab offline require shim: unknown module " + name); }
    return modules[key]();
  }
  function requirejs(deps, callback) {
    if (typeof deps === "string") { return load(deps); }
    var args = deps.map(load);
    if (typeof callback === "function") { return callback.apply(window, args); }
  }
  requirejs.config = function () {};
  window.requirejs = requirejs;
  window.require = requirejs;
  window.ptmlabRequireShim = true;
})();
"""
