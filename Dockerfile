FROM python:3.11-slim

WORKDIR /app
COPY pyproject.toml README.md ./
COPY adapters adapters
COPY ingest ingest
COPY rules rules
COPY config config
RUN pip install --no-cache-dir -e . \
    && useradd --system --home /app stridewise
USER stridewise

EXPOSE 8000
CMD ["sh", "-c", "stridewise db upgrade && stridewise serve --host 0.0.0.0 --port 8000"]
