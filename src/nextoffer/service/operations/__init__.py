"""Operations: the probes (``/livez``, ``/readyz``), Prometheus ``/metrics``, the server's
log (JSON or plain, with request ids) and OpenTelemetry traces."""
