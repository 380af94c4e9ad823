"""Draw the Teams app icons: color.png (192×192, full colour) and outline.png (32×32, white on transparent).

Teams requires both sizes exactly (`crisisbot teams-package` checks them). Run from anywhere to redraw them:
    python appPackage/draw_icons.py
Drawn 8× larger and scaled down, so the edges are smooth at the small sizes."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent
ACCENT = (179, 38, 30, 255)  # the manifest's accentColor, #B3261E
WHITE = (255, 255, 255, 255)
SCALE = 8


def _warning(draw: ImageDraw.ImageDraw, size: int, fill: tuple[int, ...], mark: tuple[int, ...], inset: float) -> None:
    """A warning triangle with an exclamation mark, inside `inset` of the square's edge (as a fraction)."""
    lo, hi = size * inset, size * (1 - inset)
    mid = size / 2
    height = hi - lo
    draw.polygon([(mid, lo + height * 0.04), (hi, hi - height * 0.08), (lo, hi - height * 0.08)], fill=fill)
    bar = size * 0.055
    draw.rounded_rectangle((mid - bar, lo + height * 0.33, mid + bar, lo + height * 0.66), radius=bar, fill=mark)
    draw.ellipse((mid - bar, lo + height * 0.72, mid + bar, lo + height * 0.72 + 2 * bar), fill=mark)


def color(size: int = 192) -> Image.Image:
    big = size * SCALE
    image = Image.new("RGBA", (big, big), ACCENT)
    _warning(ImageDraw.Draw(image), big, WHITE, ACCENT, inset=0.2)
    return image.resize((size, size), Image.Resampling.LANCZOS)


def outline(size: int = 32) -> Image.Image:
    """White only: the triangle's alpha carries the shape, the exclamation mark is cut out (transparent)."""
    big = size * SCALE
    mask = Image.new("L", (big, big), 0)
    _warning(ImageDraw.Draw(mask), big, (255,), (0,), inset=0.03)
    alpha = mask.resize((size, size), Image.Resampling.LANCZOS)
    image = Image.new("RGBA", (size, size), (255, 255, 255, 0))
    image.putalpha(alpha)
    return image


def main() -> None:
    color().save(HERE / "color.png", optimize=True)
    outline().save(HERE / "outline.png", optimize=True)


if __name__ == "__main__":
    main()
