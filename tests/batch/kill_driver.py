"""Run score_file with the tiny model in its own process, slowed down so a test can kill it.

    python -m tests.batch.kill_driver MODEL_DIR INPUT OUTPUT CHUNK_SIZE DELAY_S
"""

from __future__ import annotations

import sys
import time

from replyguard.batch import LocalEngine, score_file
from tests.batch.helpers import tiny_analyzer


class Slow(LocalEngine):
    """Sleeps after each chunk, so that a kill lands in the middle of the run."""

    def __init__(self, analyzer, delay: float) -> None:
        super().__init__(analyzer)
        self.delay = delay

    def map(self, chunks):
        for item in super().map(chunks):
            yield item
            time.sleep(self.delay)


def main(argv: list[str]) -> None:
    model, inp, out, chunk, delay = argv
    score_file(inp, out, Slow(tiny_analyzer(model), float(delay)), model_id="tiny", chunk_size=int(chunk))


if __name__ == "__main__":
    main(sys.argv[1:])
