"""The flow designer: an HTTP API over the runtime (`service`) and the page that uses it (`static/`)."""
