"""One module per tab: build(tutor, ...) creates components and events; handlers are plain functions."""
