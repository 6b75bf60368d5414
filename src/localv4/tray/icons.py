"""Tray icons drawn in code with Pillow: one look per IconState, so no image files ship.

A disc whose colour says the state (grey stopped, amber loading, green running, red error)
and, while pulling, a blue ring that fills with the percent done.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from localv4.tray.menu import IconKind, IconState

if TYPE_CHECKING:
    from PIL.Image import Image

SIZE = 64
COLOURS = {
    IconKind.STOPPED: (140, 140, 140, 255),
    IconKind.LOADING: (235, 170, 40, 255),
    IconKind.RUNNING: (40, 180, 90, 255),
    IconKind.ERROR: (215, 55, 55, 255),
    IconKind.PULLING: (50, 120, 230, 255),
}
TRACK = (200, 200, 200, 255)
WHITE = (255, 255, 255, 255)


def draw(icon: IconState, size: int = SIZE) -> Image:
    from PIL import Image, ImageDraw

    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    pen = ImageDraw.Draw(image)
    pad, colour = size // 16, COLOURS[icon.kind]
    box = (pad, pad, size - pad - 1, size - pad - 1)
    if icon.kind is IconKind.PULLING:
        width = size // 7
        pen.ellipse(box, outline=TRACK, width=width)
        pen.arc(box, -90, -90 + 360 * (icon.percent or 0) / 100, fill=colour, width=width)
        inner = size // 3
        pen.ellipse((inner, inner, size - inner - 1, size - inner - 1), fill=colour)
    elif icon.kind is IconKind.STOPPED:
        pen.ellipse(box, outline=colour, width=size // 7)
    else:
        pen.ellipse(box, fill=colour)
        if icon.kind is IconKind.ERROR:
            bar = size // 12
            pen.rectangle((size // 2 - bar, size // 4, size // 2 + bar, size * 9 // 16), fill=WHITE)
            pen.rectangle((size // 2 - bar, size * 11 // 16, size // 2 + bar, size * 3 // 4), fill=WHITE)
    return image
