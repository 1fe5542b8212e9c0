"""nmt: neural machine translation for learning, teaching and researching attention."""

__version__ = "0.1.0"
