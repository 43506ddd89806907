"""Metadata for the Dagster UI: small inline thumbnails (markdown with a data: URI, so a partition's page shows
its images without a file server) and catalog text as inert Markdown tables."""
import base64
import io

from PIL import Image


def thumbnail_md(images: list[tuple[str, bytes]], side: int = 160, limit: int = 6) -> str:
    cells = []
    for label, data in images[:limit]:
        with Image.open(io.BytesIO(data)) as im:
            im = im.convert("RGBA") if im.mode in ("RGBA", "LA", "P") else im.convert("RGB")
            im.thumbnail((side, side))
            buf = io.BytesIO()
            if im.mode == "RGBA":
                im.save(buf, "PNG", optimize=True)
                mime = "image/png"
            else:
                im.save(buf, "JPEG", quality=70)
                mime = "image/jpeg"
        cells.append(f"![thumbnail](data:{mime};base64,{base64.b64encode(buf.getvalue()).decode()}) {md_cell(label)}")
    return "\n\n".join(cells)


def md_cell(value) -> str:
    """Catalog text as inert Markdown: a code span (no links, images or HTML), one line, bounded."""
    text = " ".join(str("" if value is None else value).split())[:80].replace("`", "'").replace("|", "\\|")
    return f"`{text}`" if text else ""


def md_table(rows: list[dict], columns: list[str], limit: int = 20) -> str:
    head = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"
    body = "".join("| " + " | ".join(md_cell(r.get(c)) for c in columns) + " |\n" for r in rows[:limit])
    more = f"\n… and {len(rows) - limit} more" if len(rows) > limit else ""
    return head + body + more
