"""Generic plots shared by the notebooks (matplotlib, inline; never windows).

Plots specific to one topic live next to their logic as ``plot_*`` functions.
"""

from __future__ import annotations

import numpy as np


def image_grid(images, titles=None, ncols: int = 8, size: float = 1.4, cmap="gray", suptitle=None, axes=None):
    """Show ``(n, H, W)`` or ``(n, H, W, 3)`` uint8 images in a grid; returns the figure."""
    import matplotlib.pyplot as plt

    images = np.asarray(images)
    n = len(images)
    if n == 0:
        raise ValueError("image_grid: no images to show")
    ncols = max(1, min(ncols, n))
    nrows = int(np.ceil(n / ncols))
    if axes is None:
        fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + (0.4 if suptitle else 0)),
                                 squeeze=False)
    else:
        axes = np.atleast_2d(axes)
        fig = axes.flat[0].figure
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(images[i], cmap=cmap if images[i].ndim == 2 else None, vmin=0,
                      vmax=255 if images.dtype == np.uint8 else None)
            if titles is not None:
                ax.set_title(str(titles[i]), fontsize=8)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig
