"""Features: pure logic over the core API (study plan, quiz, interview, multimodal); never imports gradio."""
