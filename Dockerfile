# Earshot runtime image: no torch, the int8 ONNX model ships inside the package.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 HF_HUB_OFFLINE=1
WORKDIR /app

COPY pyproject.toml README.md ./
COPY domain ./domain
COPY collectors ./collectors
COPY classifiers ./classifiers
COPY alerting ./alerting
COPY storage ./storage
COPY scheduler ./scheduler
COPY web ./web
COPY earshot ./earshot
RUN pip install . && useradd --create-home --uid 10001 earshot && mkdir -p /data && chown earshot /data

COPY earshot.example.yaml /etc/earshot/earshot.yaml
USER earshot
WORKDIR /data
ENV EARSHOT_CONFIG=/etc/earshot/earshot.yaml EARSHOT_WEB__HOST=0.0.0.0
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)" || exit 1
CMD ["earshot", "run"]
