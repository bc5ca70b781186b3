"""The composite's grid (pure functions; tested by test/composite-layout-test.py through the worker)."""
import math


def grid(n, width, height):
    """Tile rectangles (x, y, w, h) for n participants in join order: ceil(sqrt(n)) columns, as
    Kurento's Composite; rows fill left to right, the last row centred. Even sizes (I420)."""
    if n <= 0:
        return []
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    tw = (width // cols) & ~1
    th = (height // rows) & ~1
    oy = (height - rows * th) // 2
    rects = []
    for i in range(n):
        r, c = divmod(i, cols)
        in_row = min(cols, n - r * cols)
        ox = (width - in_row * tw) // 2
        rects.append((ox + c * tw, oy + r * th, tw, th))
    return rects


def border(height):
    """Width of the active speaker's frame, px: 3 at 360p, at least 2."""
    return max(2, height // 120)


def inset(rect, height):
    """The tile's video rectangle inside its frame (even sizes)."""
    x, y, w, h = rect
    b = border(height)
    return (x + b, y + b, max(2, (w - 2 * b) & ~1), max(2, (h - 2 * b) & ~1))


def font_px(tile_width, tile_height):
    """Name label size, px: a fourteenth of the tile's height (a twentieth of its width if
    narrower), between 10 and 24."""
    return max(10, min(24, tile_height // 14, tile_width // 20))
