# The jobstream image used by docker-compose.yml (worker, API and poller share it).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY schemas ./schemas
COPY storage ./storage
COPY streams ./streams
# The runtime only: not the `local` extra (embedded Postgres, psutil) that `jobstream stack` and
# `jobstream bench` need on a developer's machine; in the image those commands say so in one line.
RUN pip install --no-cache-dir -c constraints.txt .
ENV JOBSTREAM_HOME=/var/lib/jobstream
CMD ["jobstream", "worker"]
