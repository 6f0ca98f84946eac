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

COPY earshot.example.yaml /etc/earshot/earshot.example.yaml
# The default config is the example without its demo source: a deployment that mounts no config of
# its own must never replay made-up mentions into its database. The compose `demo` profile runs the
# example itself (EARSHOT_CONFIG=/etc/earshot/earshot.example.yaml).
RUN python -c "import sys, yaml; c = yaml.safe_load(open(sys.argv[1], encoding='utf-8')); c['sources'] = [s for s in c['sources'] if s['kind'] != 'demo']; yaml.safe_dump(c, open(sys.argv[2], 'w', encoding='utf-8'), sort_keys=False)" /etc/earshot/earshot.example.yaml /etc/earshot/earshot.yaml
USER earshot
WORKDIR /data
ENV EARSHOT_CONFIG=/etc/earshot/earshot.yaml EARSHOT_WEB__HOST=0.0.0.0 EARSHOT_WEB__PORT=8000
EXPOSE 8000
# Probes the port the app listens on: EARSHOT_WEB__PORT, set here and overridable at run time.
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('EARSHOT_WEB__PORT', '8000'), timeout=4)" || exit 1
CMD ["earshot", "run"]
