"""Crisis-language detection for chat messages. Pure Python; imports nothing from Django.

>>> from moderation.crisis import assess
>>> assess("i want to die").level
'urgent'
"""

from .engine import Assessment, Context, assess
from .lexicon import AT_RISK, CATEGORIES, LEVELS

__all__ = ["AT_RISK", "CATEGORIES", "LEVELS", "Assessment", "Context", "assess"]
