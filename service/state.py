"""Everything the app holds for its lifetime, built once in the lifespan handler."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy.engine import Engine

from replyguard.analyzer import Analyzer
from replyguard.schema import Conversation
from service.db import make_engine, make_sessions
from service.keys import KeyStore, RateLimiter
from service.memory import SparseWeights, drop_word_caches
from service.privacy import RedactingFilter, Scrubber
from service.runner import ModelRunner
from service.settings import Settings
from service.store import Store
from service.suggest import Catalogues

log = logging.getLogger("replyguard.service")


@dataclass
class AppState:
    settings: Settings
    engine: Engine
    analyzer: Analyzer
    runner: ModelRunner
    store: Store
    keys: KeyStore
    limiter: RateLimiter
    catalogues: Catalogues
    scrub: Scrubber

    @classmethod
    def start(cls, settings: Settings, analyzer: Analyzer | None = None) -> AppState:
        """Open the database, read the catalogue and load the models (unless one is given)."""
        configure_logging(settings)
        engine = make_engine(settings.database_url)
        sessions = make_sessions(engine)
        scrub = Scrubber(settings.redact_pii, settings.log_text)
        catalogues = Catalogues(settings.catalogue, settings.catalogue_dir)
        if analyzer is None:
            log.info("loading model %s", settings.model)
            analyzer = Analyzer.load(settings.model, threads=settings.threads)
        drop_word_caches(analyzer)
        log.info("ready: model %s, database %s", analyzer.name, engine.url.render_as_string(hide_password=True))
        return cls(settings=settings, engine=engine, analyzer=analyzer,
                   runner=model_runner(settings, analyzer),
                   store=Store(sessions, scrub), keys=KeyStore(sessions, settings.key_cache_s),
                   limiter=RateLimiter(settings.rate_limit_per_minute), catalogues=catalogues, scrub=scrub)

    def close(self) -> None:
        self.runner.close()
        self.engine.dispose()


def model_runner(settings: Settings, analyzer: Analyzer) -> ModelRunner:
    """The worker's model lane; draft checks (HTTP, stored conversations, WebSocket) are batched."""

    def check_batch(items: list[tuple[Conversation, str]]) -> list:
        return analyzer.check_many(items, return_exceptions=True)

    return ModelRunner(settings.request_timeout_s, settings.max_queue, batchers={"check": check_batch},
                       window_s=settings.batch_window_ms / 1000, max_batch=settings.max_batch,
                       on_trim=SparseWeights.of(analyzer).release)


def configure_logging(settings: Settings) -> logging.Handler:
    """Service logs go to stderr; with redact_pii every line is masked before it is written
    (ours, and uvicorn's own). Returns the service's handler."""
    logger = logging.getLogger("replyguard.service")
    handler = next((h for h in logger.handlers if getattr(h, "replyguard", False)), None)
    if handler is None:
        handler = logging.StreamHandler()
        handler.replyguard = True  # type: ignore[attr-defined]
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    for target in (handler, logging.getLogger("uvicorn.error"), logging.getLogger("uvicorn.access")):
        for f in [f for f in target.filters if isinstance(f, RedactingFilter)]:
            target.removeFilter(f)
        if settings.redact_pii:
            target.addFilter(RedactingFilter())
    return handler
