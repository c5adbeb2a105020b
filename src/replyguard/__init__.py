"""replyguard: flag customer-service replies that make customers furious.

Public names: :class:`Analyzer`, :class:`Conversation`, :class:`Finding`, :func:`evaluate`.
"""

from replyguard.analyzer import Analyzer
from replyguard.evaluate import evaluate
from replyguard.schema import FLAGS, Conversation, Finding

__all__ = ["FLAGS", "Analyzer", "Conversation", "Finding", "evaluate"]
__version__ = "0.1.0"
