"""Regenerate every committed model artefact: data -> training -> evaluation and card.

    python -m training.pipeline [--name replyguard-v1] [--previous models/OLD]
"""

from __future__ import annotations

import argparse
import subprocess
import sys


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--name", default="replyguard-v1")
    ap.add_argument("--previous", default=None)
    ap.add_argument("--data", default="data/generated")
    args = ap.parse_args()
    py = sys.executable
    steps = [
        [py, "-m", "training.build_data", "--out", args.data],
        [py, "-m", "training.train", "--data", args.data, "--out", f"models/{args.name}", "--name", args.name],
        [py, "-m", "training.card", "--model", args.name] + (["--previous", args.previous] if args.previous else []),
    ]
    for i, cmd in enumerate(steps, 1):
        print(f"== step {i}/{len(steps)}: {' '.join(cmd[2:])}", flush=True)
        subprocess.run(cmd, check=True)


if __name__ == "__main__":
    main()
