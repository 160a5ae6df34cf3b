FROM python:3.11-slim

# WeasyPrint (PDF reports) needs Pango and HarfBuzz, and a font.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
       libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY core core
COPY adapters adapters
COPY ingest ingest
COPY rules rules
COPY reports reports
COPY interop interop
COPY delivery delivery
COPY stridewise stridewise
COPY config config
RUN pip install --no-cache-dir -e . \
    && useradd --system --home /app stridewise
USER stridewise

EXPOSE 8000
CMD ["sh", "-c", "stridewise db upgrade && stridewise serve --host 0.0.0.0 --port 8000"]
