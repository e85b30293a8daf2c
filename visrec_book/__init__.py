"""The workbook's tooling, outside the taught library ``visrec_helpers``: notebook runner, hygiene,
single-source check, network guard, book site, benchmarks, exercises, flashcards, mock interview.
No library module imports it (``tests/test_layers.py``)."""
