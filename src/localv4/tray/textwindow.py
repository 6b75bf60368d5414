"""A read-only text window (doctor's report, the endpoint to copy) in its own process.

`python -m localv4.tray.textwindow TITLE` shows stdin. Its own process, because Tk and the tray's
toolkit must not share a main loop, and a window left open must never block the tray.
"""

from __future__ import annotations

import sys

MAX_ROWS = 40


def show(title: str, text: str) -> None:
    import tkinter as tk
    from tkinter import scrolledtext

    root = tk.Tk()
    root.title(title)
    rows = min(MAX_ROWS, text.count("\n") + 2)
    width = min(120, max((len(line) for line in text.splitlines()), default=40) + 2)
    box = scrolledtext.ScrolledText(root, width=width, height=rows, font="TkFixedFont", wrap="none")
    box.insert("1.0", text)
    box.configure(state="disabled")
    box.pack(fill="both", expand=True)

    def copy() -> None:
        root.clipboard_clear()
        root.clipboard_append(text)

    buttons = tk.Frame(root)
    tk.Button(buttons, text="Copy", command=copy).pack(side="left", padx=4, pady=4)
    tk.Button(buttons, text="Close", command=root.destroy).pack(side="left", padx=4, pady=4)
    buttons.pack(anchor="e")
    root.mainloop()


if __name__ == "__main__":
    show(sys.argv[1] if len(sys.argv) > 1 else "localv4", sys.stdin.read())
