"""Exercises with check(), hint() and solution(), in the style of Kaggle learntools and ARENA.

Checks test properties (shapes, rates within a tolerance, a loss below a bound), so stochastic answers still pass."""

from ptmlab.exercises.base import Exercise, ExerciseFailed

__all__ = ["Exercise", "ExerciseFailed"]
