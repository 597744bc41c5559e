"""Downstream tasks any chapter may score a model with, each written once; none imports a chapter.

The calling convention: a task takes a model (or its frozen features) and examples, and returns a dict of scores."""
