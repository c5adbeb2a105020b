"""Launch the real service (uvicorn) around the tiny test model — for tests only.

    python -m tests.service.tiny_server MODEL_DIR PORT

Settings come from REPLYGUARD_* variables as in production; only the analyzer differs
(the tiny model folder with the hash encoder, so no weights are needed).
"""

from __future__ import annotations

import sys

import uvicorn

from replyguard.analyzer import Analyzer, ModelFolder
from service.app import create_app
from service.settings import Settings
from tests.utils.fixtures import HashEncoder


def main() -> None:
    model_dir, port = sys.argv[1], int(sys.argv[2])
    analyzer = Analyzer(ModelFolder.load(model_dir), HashEncoder())
    settings = Settings()
    uvicorn.run(create_app(settings, analyzer=analyzer), host="127.0.0.1", port=port, log_level="warning",
                ws_max_size=settings.max_request_bytes)


if __name__ == "__main__":
    main()
