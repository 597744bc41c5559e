"""The exercise mechanism: an Exercise states a task, checks an answer by its properties, gives hints and a solution.

Modelled on Kaggle learntools (`q1.check()`, `q1.hint()`, `q1.solution()`); failures explain what was expected."""

from __future__ import annotations

import html
from typing import Any


class ExerciseFailed(AssertionError):
    """Raised by `Exercise.expect` when an answer misses a property; the message tells the learner what to fix."""


class Exercise:
    """Subclass and set `title`, `task`, `hints`, `solution_code`; implement `test(answer)` with `self.expect(...)`.

    In a notebook: `ex = SomeExercise()`, then `ex.check(my_function)`, `ex.hint()`, `ex.solution()`."""

    title: str = "Exercise"
    task: str = ""
    hints: tuple[str, ...] = ()
    solution_code: str = ""

    def __init__(self) -> None:
        self._hints_shown = 0
        self.passed = False

    # -- to implement -----------------------------------------------------------------------
    def test(self, answer: Any) -> None:
        raise NotImplementedError

    # -- helpers for test() ------------------------------------------------------------------
    @staticmethod
    def expect(condition: bool, message: str) -> None:
        if not condition:
            raise ExerciseFailed(message)

    @staticmethod
    def expect_close(value: float, target: float, tolerance: float, what: str) -> None:
        if not abs(float(value) - target) <= tolerance:
            raise ExerciseFailed(f"{what} is {float(value):.4g}; expected {target:.4g} ± {tolerance:.2g}.")

    # -- what the learner calls ---------------------------------------------------------------
    def check(self, answer: Any = None) -> bool:
        """Test the answer and print a clear verdict. Returns True when it passes (never raises for a wrong answer)."""
        if answer is None:
            self._show("⚠️", f"{self.title}: nothing to check yet. {self.task}", "#b58900")
            return False
        try:
            self.test(answer)
        except ExerciseFailed as failed:
            self.passed = False
            self._show("❌", f"{self.title}: not yet. {failed}", "#c0392b")
            return False
        except NotImplementedError:
            self._show("⚠️", f"{self.title}: your function still raises NotImplementedError.", "#b58900")
            return False
        except Exception as err:  # the learner's code crashed: show the error, not a wall of traceback
            self._show("❌", f"{self.title}: your answer raised {type(err).__name__}: {err}", "#c0392b")
            return False
        self.passed = True
        self._show("✅", f"{self.title}: correct!", "#27ae60")
        return True

    def hint(self) -> None:
        if not self.hints:
            self._show("💡", "No hint for this one: try the solution.", "#2980b9")
            return
        text = self.hints[min(self._hints_shown, len(self.hints) - 1)]
        self._hints_shown += 1
        self._show("💡", f"Hint {min(self._hints_shown, len(self.hints))}/{len(self.hints)}: {text}", "#2980b9")

    def solution(self) -> None:
        self._show("📖", f"Solution:\n{self.solution_code}", "#555", code=True)

    def _show(self, icon: str, text: str, colour: str, code: bool = False) -> None:
        try:
            from IPython import get_ipython
            from IPython.display import HTML, display

            if get_ipython() is not None:
                body = f"<pre>{html.escape(text)}</pre>" if code else html.escape(text)
                display(HTML(f'<div style="color:{colour};font-weight:500">{icon} {body}</div>'))
                return
        except ImportError:
            pass
        print(f"{icon} {text}")

    def __repr__(self) -> str:
        return f"{self.title}: {self.task}"
