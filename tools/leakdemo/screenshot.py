"""Screenshots of ``beamish observer`` pointed at a running leak demo.

Drives the real terminal UI headlessly (textual's pilot) against a live
node through its control endpoint, exactly as ``beamish observer NODE``
would, and saves what the screen shows as SVG: the process table sorted by
monitors with the leak flags, and the top process's detail view::

    beamish run tools.leakdemo --name leakdemo@localhost &
    python -m tools.leakdemo.screenshot leakdemo@localhost docs/observer.svg \\
        --detail docs/observer-detail.svg --png

``--wait`` is how long the UI watches before the picture (default 8 s),
so the duplicate-monitor flag has persisted and the sparklines have a
little history.  ``--png`` also renders each SVG to a PNG beside it with a
headless Chromium, if one is installed; the SVG's web-font links are
dropped from the copy it renders, so nothing is fetched from the network.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
from typing import Optional

from beamish.observer import connect
from beamish.observer._tui import ObserverApp
from beamish.observer._tui_screens import ProcessScreen

BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def _size(text: str) -> tuple:
    cols, rows = (int(x) for x in text.lower().split("x"))
    return cols, rows


async def shoot(node: str, out: str, detail: Optional[str], wait: float, size: tuple,
                detail_size: tuple) -> list:
    """Save the screenshots; returns their paths."""
    saved = []
    client = connect(node)
    try:
        app = ObserverApp(client, interval=1.0)
        async with app.run_test(size=size) as pilot:
            await pilot.pause(wait)
            app.sort_by("monitors")
            await pilot.pause(0.3)
            saved.append(_save(app, out))
            if detail:
                await pilot.press("enter")          # the cursor is on the top row
                await pilot.resize_terminal(*detail_size)
                await pilot.pause(1.0)
                assert isinstance(app.screen, ProcessScreen)
                saved.append(_save(app, detail))
    finally:
        client.close()
    return saved


def _save(app: ObserverApp, path: str) -> str:
    folder, name = os.path.split(os.path.abspath(path))
    app.save_screenshot(filename=name, path=folder)
    print(f"saved {path}")
    return path


def to_png(svg: str) -> Optional[str]:
    """Render ``svg`` to a PNG beside it with a headless Chromium; None if
    there is no browser to do it."""
    browser = next((b for b in map(shutil.which, BROWSERS) if b), None)
    if browser is None:
        print("no chromium found: PNG skipped", file=sys.stderr)
        return None
    with open(svg) as f:
        text = f.read()
    # Keep only local() font sources: the copy must not fetch anything.
    text = re.sub(r'src: (local\("[^"]+"\)),[^;]*;', r"src: \1;", text, flags=re.S)
    box = re.search(r'viewBox="0 0 ([\d.]+) ([\d.]+)"', text)
    width, height = (round(float(v) + 0.49) for v in box.groups()) if box else (1600, 1000)
    png = os.path.splitext(svg)[0] + ".png"
    with tempfile.TemporaryDirectory() as tmp:
        local = os.path.join(tmp, "shot.svg")
        with open(local, "w") as f:
            f.write(text)
        subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu",
                        "--hide-scrollbars", f"--window-size={width},{height}",
                        f"--user-data-dir={tmp}/profile", f"--screenshot={os.path.abspath(png)}",
                        local], check=True, capture_output=True, timeout=60)
    print(f"saved {png}")
    return png


def main(argv: Optional[list] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tools.leakdemo.screenshot")
    p.add_argument("node")
    p.add_argument("out", help="SVG of the process table")
    p.add_argument("--detail", help="SVG of the top process's detail view")
    p.add_argument("--wait", type=float, default=8.0)
    p.add_argument("--size", type=_size, default=(150, 42), help="COLSxROWS (default 150x42)")
    p.add_argument("--detail-size", type=_size, default=(150, 37),
                   help="COLSxROWS of the detail view (default 150x37)")
    p.add_argument("--png", action="store_true", help="also render PNGs (needs chromium)")
    args = p.parse_args(argv)
    saved = asyncio.run(shoot(args.node, args.out, args.detail, args.wait, args.size,
                              args.detail_size))
    if args.png:
        for svg in saved:
            to_png(svg)
    return 0


if __name__ == "__main__":
    sys.exit(main())
