"""Prometheus metrics, defined once per process (the default registry) and served at /metrics."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

disable_created_metrics()  # the *_created series double the output and no dashboard reads them

# Latency buckets around the real-time budget: a popup must land well under a typing pause.
_BUCKETS = (0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0, 10.0)

REQUESTS = Counter("replyguard_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram("replyguard_http_request_seconds", "HTTP request latency", ["method", "route"],
                    buckets=_BUCKETS)
MODEL_SECONDS = Histogram("replyguard_model_seconds", "Time in the models per call (a batch counts once)", ["op"], buckets=_BUCKETS)
MODEL_BATCH = Histogram("replyguard_model_batch_size", "Calls served by one batched model call", ["op"],
                        buckets=(1, 2, 4, 8, 16, 32, 64))
MODEL_QUEUE = Gauge("replyguard_model_queue", "Model calls waiting or running in this worker")
FINDINGS = Counter("replyguard_findings_total", "Findings returned", ["flag", "source"])
WS_MESSAGES = Counter("replyguard_ws_messages_total", "WebSocket messages received", ["type"])
FEEDBACK = Counter("replyguard_feedback_total", "Feedback stored", ["action"])
REJECTED = Counter("replyguard_rejected_total", "Requests refused before the models", ["reason"])
