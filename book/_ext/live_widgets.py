"""The live widgets: pages whose text holds a `<div data-cgan-widget="...">` load the
book's one widget script and stylesheet (web/cgan.js, web/cgan.css; the Makefile's
`demo` target copies them and onnxruntime-web, TensorFlow.js and the ONNX generator into
_offline/demo, published as _static/demo). Pages without a widget load nothing."""

MARKER = "data-cgan-widget="


def _add_widget_files(app, pagename, templatename, context, doctree):
    if MARKER in context.get("body", ""):
        # called during html-page-context, these go to this page only
        app.add_css_file("demo/cgan.css")
        app.add_js_file("demo/cgan.js")


def setup(app):
    app.connect("html-page-context", _add_widget_files)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
