"""SKU Studio's plain logic: catalog and promotion tables, CPU pixel work, metrics and grading.

Nothing in this package imports Dagster or torch; every function is callable from a test or a script.
"""
