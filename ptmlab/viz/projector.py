"""An embedding projector in plotly: vectors to 2-D or 3-D points with hover labels, plus cosine neighbours.

Like TensorBoard's Embedding Projector (Smilkov et al. 2016): PCA for the global shape, t-SNE (van der Maaten & Hinton
2008) for local neighbourhoods; UMAP (McInnes et al. 2018) when the optional `umap-learn` package is installed."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ptmlab.errors import InputError


def _as_array(vectors) -> np.ndarray:
    if hasattr(vectors, "detach"):
        vectors = vectors.detach().float().cpu().numpy()
    array = np.asarray(vectors, dtype=np.float32)
    if array.ndim != 2 or len(array) == 0:
        raise InputError(f"Expected a non-empty [n, dim] array of vectors, got shape {array.shape}.",
                         fix="Pass one vector per row, e.g. model.body.tok_emb.weight[ids].")
    return array


def reduce(vectors, method: str = "pca", dims: int = 3, seed: int = 0) -> np.ndarray:
    """Project [n, d] vectors to [n, dims] with 'pca', 'tsne' or 'umap'."""
    x = _as_array(vectors)
    dims = min(dims, x.shape[1], max(1, len(x) - 1)) if method == "pca" else dims
    if method == "pca":
        centred = x - x.mean(0, keepdims=True)
        _, _, vt = np.linalg.svd(centred, full_matrices=False)  # principal axes, largest variance first
        points = centred @ vt[:dims].T
    elif method == "tsne":
        from sklearn.manifold import TSNE

        if len(x) < 5:
            raise InputError("t-SNE needs at least 5 points.", fix="Add more words or use method='pca'.")
        perplexity = float(min(30, max(2, (len(x) - 1) // 3)))
        points = TSNE(n_components=dims, perplexity=perplexity, init="pca", random_state=seed).fit_transform(x)
    elif method == "umap":
        try:
            import umap
        except ImportError as err:
            raise InputError("UMAP needs the optional package umap-learn.",
                             fix="pip install umap-learn, or use method='pca' or 'tsne'.") from err
        points = umap.UMAP(n_components=dims, random_state=seed).fit_transform(x)
    else:
        raise InputError(f"Unknown projection {method!r}.", fix="Use 'pca', 'tsne' or 'umap'.")
    if points.shape[1] < dims:  # fewer input dimensions than asked: pad with zeros so plotting still works
        points = np.pad(points, ((0, 0), (0, dims - points.shape[1])))
    return points


def project(vectors, labels: Sequence[str], *, method: str = "pca", dims: int = 3,
            color: Sequence[str] | None = None, title: str = "", seed: int = 0, show_text: bool | None = None):
    """A plotly scatter of the projected vectors; hover shows each label, `color` groups points by category."""
    import plotly.graph_objects as go

    x = _as_array(vectors)
    if len(labels) != len(x):
        raise InputError(f"{len(labels)} labels for {len(x)} vectors.", fix="Give exactly one label per vector.")
    if dims not in (2, 3):
        raise InputError(f"dims={dims}: the projector draws 2 or 3 dimensions.", fix="Use dims=2 or dims=3.")
    points = reduce(x, method, dims, seed)
    groups = list(color) if color is not None else ["words"] * len(x)
    show_text = len(x) <= 60 if show_text is None else show_text
    figure = go.Figure()
    for group in dict.fromkeys(groups):  # keeps first-seen order
        idx = [i for i, g in enumerate(groups) if g == group]
        text = [labels[i] for i in idx]
        common = dict(name=str(group), text=text, hovertemplate="%{text}<extra>" + str(group) + "</extra>",
                      mode="markers+text" if show_text else "markers", textposition="top center")
        if dims == 3:
            figure.add_trace(go.Scatter3d(x=points[idx, 0], y=points[idx, 1], z=points[idx, 2],
                                          marker=dict(size=4), **common))
        else:
            figure.add_trace(go.Scatter(x=points[idx, 0], y=points[idx, 1], marker=dict(size=7), **common))
    axis = method.upper() if method != "tsne" else "t-SNE"
    figure.update_layout(title=title or f"{axis} projection of {len(x)} vectors", height=520,
                         showlegend=color is not None, margin=dict(l=0, r=0, t=40, b=0))
    return figure


def nearest_neighbours(vectors, labels: Sequence[str], query, k: int = 10) -> list[tuple[str, float]]:
    """The k labels whose vectors have the highest cosine similarity with `query` (a label or a vector)."""
    x = _as_array(vectors)
    if isinstance(query, str):
        if query not in labels:
            raise InputError(f"{query!r} is not among the {len(labels)} labelled vectors.",
                             fix="Pick a word from the vocabulary (or use a subword model for unseen words).")
        q = x[list(labels).index(query)]
        skip = {query}
    else:
        q = _as_array(np.asarray(query)[None] if np.ndim(query) == 1 else query)[0]
        skip = set()
    norms = np.linalg.norm(x, axis=1) * (np.linalg.norm(q) + 1e-9) + 1e-9
    cosine = (x @ q) / norms
    order = np.argsort(-cosine)
    return [(labels[i], float(cosine[i])) for i in order if labels[i] not in skip][:k]


def replay_figure(snapshots: dict | None, *, labelled: int = 40, title: str = ""):
    """Replay how an embedding space organised itself during training: one frame per recorded step, a slider and a
    play button. `snapshots` is a run's `embedding_snapshots` ({"steps", "tokens", "coords"}: every frame in the final
    frame's PCA plane); the `labelled` most frequent tokens carry their text."""
    import plotly.graph_objects as go

    if not snapshots or not snapshots.get("coords"):
        raise InputError("This run recorded no embedding snapshots.",
                         fix="Train it again with a current ptmlab (pretrain_mlm(..., retrain=True)).")
    steps, tokens, coords = snapshots["steps"], snapshots["tokens"], [np.asarray(c) for c in snapshots["coords"]]
    text = [t if i < labelled else "" for i, t in enumerate(tokens)]

    def scatter(points: np.ndarray):
        return go.Scatter(x=points[:, 0], y=points[:, 1], mode="markers+text", text=text, hovertext=tokens,
                          hovertemplate="%{hovertext}<extra></extra>", textposition="top center",
                          marker=dict(size=6, color=np.arange(len(tokens)), colorscale="Viridis",
                                      colorbar=dict(title="frequency<br>rank")))

    every = np.concatenate(coords)
    pad = 0.05 * (every.max(0) - every.min(0) + 1e-9)
    frames = [go.Frame(data=[scatter(c)], name=str(s)) for s, c in zip(steps, coords)]
    slider = dict(active=len(steps) - 1, currentvalue=dict(prefix="step "), pad=dict(t=30),
                  steps=[dict(label=str(s), method="animate",
                              args=[[str(s)], dict(mode="immediate", frame=dict(duration=0, redraw=True))])
                         for s in steps])
    play = dict(type="buttons", showactive=False, x=0, y=-0.12, xanchor="left",
                buttons=[dict(label="▶ replay", method="animate",
                              args=[None, dict(frame=dict(duration=400, redraw=True), fromcurrent=False)])])
    figure = go.Figure(data=[scatter(coords[-1])], frames=frames)
    figure.update_layout(
        title=title or f"Input embeddings of the {len(tokens)} most frequent tokens, steps 0-{steps[-1]}",
        xaxis=dict(range=[every[:, 0].min() - pad[0], every[:, 0].max() + pad[0]], title="PC 1 (final step)"),
        yaxis=dict(range=[every[:, 1].min() - pad[1], every[:, 1].max() + pad[1]], title="PC 2 (final step)"),
        sliders=[slider], updatemenus=[play], height=560, margin=dict(l=0, r=0, t=40, b=0))
    return figure
