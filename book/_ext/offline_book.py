"""Keep the built book self-contained and its pages free of console errors.

sphinx-thebe (loaded by Jupyter Book 1 whether or not Thebe is used) registers its
inline configuration script once per `env-before-read-docs` event, and Jupyter Book's
build fires that event twice, so each page declared `const THEBE_JS_URL` twice: a
SyntaxError in every reader's console. This extension drops exact duplicate script
entries from every page, and gives the theme the default colour mode it expects
(sphinx-book-theme leaves it empty, and the theme then logs "Got invalid theme mode"
as a console error). MathJax and the live demo's files are served by the book itself
(the Makefile's `demo` target).
"""


def _clean_page(app, pagename, templatename, context, doctree):
    if not context.get("default_mode"):
        context["default_mode"] = "light"
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for js in scripts:
        # the same file or inline body, whatever priority each copy was registered with
        # (one copy has filename None, the other ''; both mean "inline script")
        key = (
            js.filename or None,
            tuple(sorted((k, str(v)) for k, v in js.attributes.items())),
        )
        if key not in seen:
            seen.add(key)
            unique.append(js)
    scripts[:] = unique


def setup(app):
    app.connect("html-page-context", _clean_page, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
