# One image for the whole codebase; the command chooses what runs:
#   gongjian serve                       the gateway (GONGJIAN_MODE=split: proxies over HTTP)
#   gongjian serve-service registry --port 8000
#   gongjian migrate                     a start-up step, never at import
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 GONGJIAN_HOST=0.0.0.0
COPY requirements.lock pyproject.toml README.md ./
RUN pip install --no-cache-dir --require-hashes -r requirements.lock
COPY services ./services
COPY gateway ./gateway
COPY bench ./bench
RUN pip install --no-cache-dir --no-deps . && useradd --create-home gongjian
USER gongjian
EXPOSE 8000
CMD ["gongjian", "serve"]
