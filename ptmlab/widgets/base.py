"""The one small base class every ipywidgets app shares: `.widget` (the root box), `.display()`, errors as a message.

Widgets hold interaction only: the figures they show come from ptmlab.viz (pure functions, tested without a browser)."""

from __future__ import annotations

import html

from ptmlab.errors import PtmlabError


class Widget:
    """Subclasses build `self.widget` (an ipywidgets container) in __init__; `app.display()` shows it and returns
    the app, so `app = SomeApp(...).display()` keeps a handle for driving it from code."""

    widget = None  # the root ipywidgets container, set by the subclass

    def display(self):
        from IPython.display import display

        if self.widget is None:
            raise PtmlabError(f"{type(self).__name__} built no widget.", fix="Set self.widget in __init__.")
        display(self.widget)
        return self

    def _repr_mimebundle_(self, **kwargs):
        """An app left as a cell's last expression shows itself, as a plain ipywidget does."""
        return None if self.widget is None else self.widget._repr_mimebundle_(**kwargs)


def error_html(err: PtmlabError, fix: bool = True) -> str:
    """A PtmlabError as one red line (message, then the fix in italics) for a widget's message area."""
    text = f"⚠️ {html.escape(err.message)}"
    if fix and err.fix:
        text += f" <i>{html.escape(err.fix)}</i>"
    return f"<span style='color:#c0392b'>{text}</span>"


def replace_figure(target, new) -> None:
    """Swap a plotly FigureWidget's traces and layout for those of a freshly built figure, in one redraw."""
    with target.batch_update():
        target.data = []
        target.layout = new.layout
        for trace in new.data:
            target.add_trace(trace)
