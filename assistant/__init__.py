"""The news assistant: grounded, cited answers from a news archive.

from assistant import Assistant
bot = Assistant.from_settings()
answer = bot.ask("How many jobs will the biopharma plant create?")
answer.text, answer.citations, answer.refused
"""

from .engine import Assistant
from .errors import AssistantError
from .settings import Settings
from .types import Answer, Citation, TextDelta, Timings

__all__ = ["Answer", "Assistant", "AssistantError", "Citation", "Settings", "TextDelta", "Timings"]
