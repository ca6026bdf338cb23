"""The prompt templates (`*.txt`) and few-shot examples (`examples.json`), shipped as package data.

This package has no code: `assistant.prompts` reads the files with `importlib.resources`, so they are found
in a source checkout and in an installed wheel alike.
"""
