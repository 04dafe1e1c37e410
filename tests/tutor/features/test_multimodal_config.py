"""The media section of the config: defaults, env overrides, messages that name the setting."""
import pytest

from tutor.config import EMBEDDED, load_config
from tutor.errors import ConfigError


def test_defaults_are_the_embedded_offline_models():
    m = load_config(env={}).media
    assert (m.speech_backend, m.speech_model, m.caption_model) == ("faster-whisper", EMBEDDED, "")
    assert (m.max_audio_mb, m.max_audio_s, m.max_image_mb) == (25.0, 300.0, 10.0)


def test_env_overrides():
    m = load_config(env={"SMARTLEARN_MEDIA_SPEECH_BACKEND": "openai-whisper",
                         "SMARTLEARN_MEDIA_MAX_AUDIO_S": "60", "SMARTLEARN_MEDIA_SPEECH_LANGUAGE": "fr"}).media
    assert (m.speech_backend, m.max_audio_s, m.speech_language) == ("openai-whisper", 60.0, "fr")


@pytest.mark.parametrize("env,setting", [
    ({"SMARTLEARN_MEDIA_SPEECH_BACKEND": "whisper.cpp"}, "media.speech_backend"),
    ({"SMARTLEARN_MEDIA_SPEECH_MODEL": " "}, "media.speech_model"),
    ({"SMARTLEARN_MEDIA_SPEECH_LANGUAGE": "english!"}, "media.speech_language"),
    ({"SMARTLEARN_MEDIA_MAX_IMAGE_MB": "0"}, "media.max_image_mb"),
    ({"SMARTLEARN_MEDIA_OCR_THREADS": "-1"}, "media.ocr_threads"),
])
def test_bad_values_name_the_setting(env, setting):
    with pytest.raises(ConfigError, match=setting.replace(".", r"\.")):
        load_config(env=env)
