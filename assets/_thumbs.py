"""Small inline thumbnails for the Dagster UI (markdown metadata with a data: URI), so a partition's page shows
its images without a file server."""
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
        cells.append(f"![{label}](data:{mime};base64,{base64.b64encode(buf.getvalue()).decode()}) `{label}`")
    return "\n\n".join(cells)
