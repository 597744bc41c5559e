"""Named hook points: read any activation without editing model code.

The idea follows TransformerLens (Nanda et al.): identity modules at interesting places, named by their module path
(e.g. ``blocks.0.attn.pattern``), on which ordinary torch forward hooks capture or edit the tensor."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

import torch
from torch import nn


class HookPoint(nn.Module):
    """An identity layer. Register torch forward hooks on it to read (or replace) what flows through."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x

    @property
    def active(self) -> bool:
        return bool(self._forward_hooks)


class HookedModule(nn.Module):
    """Mixin for models with HookPoints: lists them and captures their values in a dict."""

    def hook_points(self) -> dict[str, HookPoint]:
        return {name: m for name, m in self.named_modules() if isinstance(m, HookPoint)}

    @contextmanager
    def hooks(self, fns: dict[str, Callable]) -> Iterator[None]:
        """Temporarily attach `fn(tensor, hook_point) -> tensor | None` to the named hook points."""
        points = self.hook_points()
        unknown = [n for n in fns if n not in points]
        if unknown:
            raise KeyError(f"No hook point named {unknown[0]!r}; available: {', '.join(list(points)[:8])}, ...")
        handles = [points[n].register_forward_hook(lambda m, i, out, fn=fn: fn(out, m)) for n, fn in fns.items()]
        try:
            yield
        finally:
            for h in handles:
                h.remove()

    def run_with_cache(self, *args, names: Iterable[str] | None = None, **kwargs):
        """Run forward and return (output, cache) where cache maps hook names to detached tensors."""
        wanted = list(names) if names is not None else list(self.hook_points())
        cache: dict[str, torch.Tensor] = {}

        def save(name: str) -> Callable:
            def fn(tensor: torch.Tensor, _module: HookPoint) -> None:
                cache[name] = tensor.detach()

            return fn

        with self.hooks({n: save(n) for n in wanted}):
            output = self(*args, **kwargs)
        return output, cache
