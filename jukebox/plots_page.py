"""The page template for `dvc plots show --html-template`: DVC's charts drawn by a local copy of Vega, offline.

DVC's own page loads vega, vega-lite and vega-embed from a CDN, so without internet it stays blank. This template
carries the three libraries inline (from the npm packages scripts/setup installs), so the page DVC writes works
anywhere, opened straight from disk, and can be sent to someone as one file.

    python -m jukebox.plots_page NODE_MODULES OUT.html
"""
from __future__ import annotations

import sys
from pathlib import Path

from .artifacts import write_text

# UMD bundles, in load order: vega-lite and vega-embed expect the globals the ones before them define.
BUNDLES = ("vega/build/vega.min.js", "vega-lite/build/vega-lite.min.js", "vega-embed/build/vega-embed.min.js")

PAGE = """<!DOCTYPE html>
<html>
<head>
    <meta charset="utf-8">
    {refresh_tag}
    <title>AI Jukebox: DVC plots</title>
    <!-- vega, vega-lite and vega-embed, inlined by jukebox/plots_page.py: no CDN, works offline -->
{bundles}
    <style>
        body {{ font-family: sans-serif; }}
        table {{ border-spacing: 15px; }}
    </style>
</head>
<body>
    {plot_divs}
</body>
</html>
"""


def plots_template(node_modules: Path) -> str:
    """The HTML template with the three bundles from an npm node_modules folder inlined."""
    scripts = []
    for bundle in BUNDLES:
        path = node_modules / bundle
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: install the npm packages vega, vega-lite and vega-embed "
                                    f"into {node_modules.parent} (scripts/setup does)")
        # "</script" inside the code would end the inline script early; "<\/" means the same to JavaScript.
        code = path.read_text(encoding="utf-8").replace("</script", "<\\/script")
        scripts.append(f"    <script>/* {bundle} */\n{code}\n    </script>")
    # DVC fills {plot_divs} and {refresh_tag}; {scripts} (its CDN tags) is left out on purpose.
    return PAGE.replace("{{", "{").replace("}}", "}").replace("{bundles}", "\n".join(scripts))


def main(argv: list[str] | None = None) -> None:
    """Write the template: python -m jukebox.plots_page NODE_MODULES OUT.html."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        sys.exit("usage: python -m jukebox.plots_page NODE_MODULES OUT.html")
    try:
        write_text(args[1], plots_template(Path(args[0])))
    except FileNotFoundError as exc:
        sys.exit(f"plots_page: {exc}")


if __name__ == "__main__":
    main()
