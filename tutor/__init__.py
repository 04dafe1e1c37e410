"""SmartLearn core: config, backends, retrieval, metrics and the Tutor service.

Never imports gradio, app/ or training/ (tests/test_layering.py checks this).
"""
