# nanococoa: the studio with its doors (MCP stdio/HTTP/SSE, REST, web page) on one port.
#
#   docker build -t nanococoa .                          # embedded engine only (CPU, no torch)
#   docker build -t nanococoa:gpu --build-arg EXTRAS=gpu .   # + BiRefNet, FLUX, Qwen2-VL (CUDA)
#   --build-arg EXTRAS=scale (or gpu,scale): + PostgreSQL, Procrastinate and S3 clients (compose's scale profile)
#
# The GPU image needs the host's NVIDIA driver and the NVIDIA container toolkit; the CUDA runtime
# itself ships inside torch's wheels (nvidia-* packages), so the base stays Debian, whose Chromium and
# Korean fonts are real packages (Ubuntu's Chromium is a snap, which a container cannot run).
FROM python:3.11-slim-trixie

ARG EXTRAS=""
ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    NANOCOCOA_HOST=0.0.0.0 \
    NANOCOCOA_PORT=3000 \
    NANOCOCOA_DATA_DIR=/data \
    NANOCOCOA_CHROMIUM_PATH=/usr/lib/chromium/chromium-headless-shell \
    HF_HOME=/models/hf \
    HF_HUB_OFFLINE=1

RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        chromium-headless-shell fonts-noto-cjk fonts-nanum fonts-nanum-extra fonts-woowa-bm \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install ".${EXTRAS:+[$EXTRAS]}"

RUN useradd --create-home --uid 10001 nanococoa \
 && mkdir -p /data /models/hf && chown -R nanococoa:nanococoa /data /models
USER nanococoa

EXPOSE 3000
VOLUME ["/data", "/models"]
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ[\"NANOCOCOA_PORT\"]}/health', timeout=4)"
# Beyond loopback a token is required: set NANOCOCOA_TOKEN (compose reads it from .env).
CMD ["nanococoa", "serve"]
