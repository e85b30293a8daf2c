"""Layer 7: the workbook's own machinery; nothing in the library layers imports it."""
