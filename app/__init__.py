"""SmartLearn's Gradio UI. Lays out tabs and wires them to the core Tutor; holds no core logic."""
