"""Voice & photo tab: ask by voice, ask with a photo or screenshot.

A recording is transcribed into the (editable) question box; an image is read (OCR, plus a caption
when a caption model is configured) into its own editable box. "Ask the tutor" sends both, so a
learner can photograph a problem and say or type "check my working". The answer streams with
sources, like the chat tab. Handlers are plain functions that tests call directly.
"""
from __future__ import annotations

import logging
from typing import Any, Iterator

import gradio as gr

from app import render
from tutor.errors import InputError, TutorError
from tutor.features.multimodal import ImageReading, MediaService, Transcript
from tutor.service import Tutor
from tutor.types import Answer, Delta, QueuePosition

logger = logging.getLogger(__name__)

SOURCES_PLACEHOLDER = "_Sources for the answer appear here._"
FAILED = "Something went wrong while reading your file. Please try again; if it keeps happening, " \
         "tell your administrator."


def checked_image(**kwargs: Any) -> gr.Image:
    """A gr.Image(type="filepath") that hands an uploaded file to our own checks untouched.

    Gradio's preprocessing opens every upload with PIL first, so a file that is no image, or a
    decompression bomb, would fail there with a generic "Error"; tutor/features/multimodal/checks.py
    gives a sentence instead. Pasted images (data: URLs) still go through Gradio's decoding. The
    override is on this one instance: a gr.Image subclass would make Gradio write a .pyi stub next
    to this module at import time."""
    image = gr.Image(type="filepath", **kwargs)
    gradio_preprocess = image.preprocess

    def preprocess(payload: Any) -> Any:
        if payload is not None and payload.path and not (payload.url or "").startswith("data:"):
            return str(payload.path)
        return gradio_preprocess(payload)

    image.preprocess = preprocess  # type: ignore[method-assign]
    return image


def transcript_info(t: Transcript) -> str:
    info = (f"Transcribed {t.duration_s:.1f} s of speech in {t.latency_s:.1f} s "
            f"({len(t.words)} words, {t.words_per_minute:.0f} words/min) — edit the question if a word is wrong.")
    return info + (f"  \n**{t.notice}**" if t.notice else "")


def image_info(r: ImageReading) -> str:
    lines = []
    if r.notice:
        lines.append(f"**{r.notice}** You can type the problem in the box, or ask about the image description.")
    else:
        lines.append(f"Read {len(r.lines)} line(s) of text from the {r.width}×{r.height} image in "
                     f"{r.ocr_latency_s:.1f} s — check it and correct any misread symbol.")
    if r.caption_note:
        lines.append(f"_{r.caption_note}_")
    return "  \n".join(lines)


def transcribe_audio(media: MediaService, path: str | None, user: str | None = None) -> tuple[Any, str]:
    """Returns (question box value, info markdown). A cleared recorder changes nothing."""
    if not path:
        return gr.skip(), gr.skip()
    try:
        t = media.transcribe(path, user=user or "anonymous")
    except InputError as e:
        gr.Warning(str(e))
        return gr.skip(), f"**{e}**"
    except TutorError as e:
        logger.warning("transcription failed: %s", e)
        return gr.skip(), f"**Could not transcribe:** {e}"
    except Exception:  # noqa: BLE001 - UI edge: log the trace, show a sentence
        logger.exception("unexpected transcription failure")
        return gr.skip(), f"**{FAILED}**"
    return t.text, transcript_info(t)


def read_image(media: MediaService, path: str | None, user: str | None = None) -> tuple[Any, Any, str]:
    """Returns (image text box value, caption box value, info markdown)."""
    if not path:
        return gr.skip(), gr.skip(), gr.skip()
    try:
        r = media.read_image(path, user=user or "anonymous")
    except InputError as e:
        gr.Warning(str(e))
        return "", "", f"**{e}**"
    except TutorError as e:
        logger.warning("image reading failed: %s", e)
        return "", "", f"**Could not read the image:** {e}"
    except Exception:  # noqa: BLE001
        logger.exception("unexpected image failure")
        return "", "", f"**{FAILED}**"
    if r.notice:
        gr.Warning(r.notice)
    return r.text, r.caption or "", image_info(r)


def answer(tutor: Tutor, media: MediaService, question: str, image_text: str, caption: str,
           user: str) -> Iterator[tuple[str, str]]:
    """Streams (answer markdown, sources markdown)."""
    try:
        events = media.ask(tutor, question, image_text, caption, user=user, operation="voice_photo")
        yield "_Searching the course material…_", gr.skip()
        text = ""
        for event in events:
            if isinstance(event, QueuePosition):
                yield render.waiting_markdown(text, event.position), gr.skip()
            elif isinstance(event, Delta):
                text += event.text
                yield text, gr.skip()
            elif isinstance(event, Answer):
                yield event.text + render.answer_footer(event), render.sources_markdown(event.sources,
                                                                                        event.citations)
    except InputError as e:
        gr.Warning(str(e))
        yield f"_{e}_", SOURCES_PLACEHOLDER
    except TutorError as e:
        logger.warning("voice/photo answer failed: %s", e)
        yield f"**Could not answer:** {e}", "_No sources: the answer could not be generated._"
    except Exception:  # noqa: BLE001
        logger.exception("unexpected voice/photo answer failure")
        yield ("**Could not answer:** Something went wrong while answering. Please try again.",
               "_No sources: the answer could not be generated._")


def build(tutor: Tutor, media: MediaService, user_id: gr.State) -> None:
    with gr.Row():
        with gr.Column(scale=3):
            with gr.Row():
                audio = gr.Audio(sources=["upload", "microphone"], type="filepath", format=None,
                                 label="Spoken question (record or upload wav, mp3, m4a, ogg, webm)",
                                 elem_id="mm-audio")
                image = checked_image(sources=["upload", "clipboard"],
                                     label="Photo or screenshot of a problem (png, jpg, webp; paste works)",
                                     elem_id="mm-image")
            audio_info = gr.Markdown("", elem_id="mm-audio-info")
            image_info_md = gr.Markdown("", elem_id="mm-image-info")
            question = gr.Textbox(label="Your question — typed, or transcribed from your recording (edit freely)",
                                  placeholder="e.g. explain step by step / check my working", lines=2,
                                  max_lines=6, elem_id="mm-question")
            image_text = gr.Textbox(label="Text read from the image (correct it before asking)", lines=4,
                                    max_lines=12, elem_id="mm-image-text")
            caption = gr.Textbox(label="What the image shows (needs a caption model)", lines=1,
                                 elem_id="mm-caption")
            with gr.Row():
                ask = gr.Button("Ask the tutor", variant="primary", elem_id="mm-ask")
                clear = gr.Button("Clear", elem_id="mm-clear")
            out = gr.Markdown("", elem_id="mm-answer")
        with gr.Column(scale=2):
            sources = gr.Markdown(SOURCES_PLACEHOLDER, elem_id="mm-sources")

    # Named for programs (gradio_client: bench/soak.py sends spoken questions, photos and bad files);
    # the learner id is the session's gr.State, which a client cannot set.
    audio.change(lambda p, uid: transcribe_audio(media, p, uid), [audio, user_id], [question, audio_info],
                 api_name="transcribe", show_progress="minimal")
    image.change(lambda p, uid: read_image(media, p, uid), [image, user_id], [image_text, caption, image_info_md],
                 api_name="read_image", show_progress="minimal")

    def _answer(q, it, cap, uid):
        yield from answer(tutor, media, q, it, cap, uid)

    ask.click(_answer, [question, image_text, caption, user_id], [out, sources], api_name="ask_with_media")
    question.submit(_answer, [question, image_text, caption, user_id], [out, sources], api_name=False)
    clear.click(lambda: (None, None, "", "", "", "", "", "", SOURCES_PLACEHOLDER), None,
                [audio, image, question, image_text, caption, audio_info, image_info_md, out, sources],
                api_name=False)
