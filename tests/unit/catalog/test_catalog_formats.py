import json

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from skucore.catalog.loader import CATALOG_SCHEMA, CatalogError, load_catalog

NAME = "经典T恤 黑色 / Classic Tee Black"


def test_utf8_csv(write_csv, catalog_row):
    path = write_csv([catalog_row("A-1", name=NAME), catalog_row("A-2", price="199")])
    load = load_catalog(path)
    assert load.table.schema.equals(CATALOG_SCHEMA)
    assert load.rejects.num_rows == 0
    rows = load.table.to_pylist()
    assert [r["sku"] for r in rows] == ["A-1", "A-2"]
    assert rows[0]["name"] == NAME
    assert rows[0]["selling_points"] == ["亲肤", "透气"]
    assert rows[0]["currency"] == "CNY" and rows[1]["price"] == 199.0
    assert rows[0]["image"] == str(path.parent / "photo.jpg")
    assert [r["source_row"] for r in rows] == [2, 3]  # spreadsheet rows: the header is row 1
    assert rows[0]["color"] == "Black" and rows[0]["material"] == "Cotton" and rows[0]["brand"] == "Solidus"
    assert load.stats["encoding"] == "utf-8"


def test_empty_cells_are_nulls_not_empty_strings(write_csv, catalog_row):
    load = load_catalog(write_csv([catalog_row(color="", material="", selling_points="")]))
    row = load.table.to_pylist()[0]
    assert row["color"] is None and row["material"] is None
    assert row["selling_points"] == []


def test_utf8_bom_csv(write_csv, catalog_row):
    path = write_csv([catalog_row("B-1", name=NAME)], encoding="utf-8-sig")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    load = load_catalog(path)
    # Without BOM handling the first header would be "\ufeffsku" and the file would have no sku column.
    assert load.table.column("sku").to_pylist() == ["B-1"]
    assert load.stats["encoding"] == "utf-8-sig"


def test_gbk_csv_with_chinese_headers(tmp_path, make_photo):
    make_photo("photo.jpg")
    # Fullwidth ￥: GBK has no half-width ¥, so this is what a GBK export carries.
    text = ("商品编码,商品名称,类目,颜色,价格,品牌,卖点,图片\n"
            f"G-1,{NAME},服装,黑色,\"￥1,299.00\",索利达,纯棉；透气,photo.jpg\n")
    path = tmp_path / "gbk.csv"
    path.write_bytes(text.encode("gbk"))
    with pytest.raises(UnicodeDecodeError):
        path.read_bytes().decode("utf-8")  # the test really is about a non-UTF-8 file
    load = load_catalog(path)
    assert load.rejects.num_rows == 0
    row = load.table.to_pylist()[0]
    assert row["name"] == NAME and row["color"] == "黑色" and row["brand"] == "索利达"
    assert row["price"] == 1299.0 and row["category"] == "fashion"
    assert row["selling_points"] == ["纯棉", "透气"]
    assert load.stats["encoding"] == "gb18030"


def test_xlsx(tmp_path, make_photo):
    make_photo("photo.jpg")
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["SKU", "Name", "Category", "Price", "Image", "Season"])
    sheet.append([10023, NAME, "fashion", 129.5, "photo.jpg", "AW25"])  # Excel keeps all-digit SKUs as numbers
    sheet.append(["X-2", "Mug", "Mugs", "¥59.00", "photo.jpg", None])
    sheet.append([None, None, None, None, None, None])  # a formatted empty row, as Excel leaves them
    path = tmp_path / "catalog.xlsx"
    workbook.save(path)
    load = load_catalog(path, currency="CNY")
    assert load.rejects.num_rows == 0
    rows = load.table.to_pylist()
    assert [r["sku"] for r in rows] == ["10023", "X-2"]
    assert [r["price"] for r in rows] == [129.5, 59.0]
    assert [r["category"] for r in rows] == ["fashion", "home_decor"]
    assert [r["source_row"] for r in rows] == [2, 3]
    assert json.loads(rows[0]["attributes"]) == {"Season": "AW25"}
    assert rows[1]["attributes"] is None
    assert load.stats["format"] == "xlsx"


def test_parquet(tmp_path, make_photo):
    make_photo("photo.jpg")
    table = pa.table({
        "sku": ["P-1", "P-2"], "name": [NAME, None], "category": ["beauty", "electronics"],
        "price": [129.0, 1999.99], "selling_points": [["保湿", "温和"], None], "image": ["photo.jpg", "photo.jpg"],
        "weight_g": [120, None],
    })
    path = tmp_path / "catalog.parquet"
    pq.write_table(table, path)
    load = load_catalog(path, currency="EUR")
    rows = load.table.to_pylist()
    assert [r["sku"] for r in rows] == ["P-1", "P-2"]
    assert rows[0]["selling_points"] == ["保湿", "温和"] and rows[1]["selling_points"] == []
    assert rows[1]["price"] == 1999.99 and rows[1]["name"] is None
    assert json.loads(rows[0]["attributes"]) == {"weight_g": 120}
    assert [r["source_row"] for r in rows] == [0, 1]  # Parquet: the 0-based index pandas/pyarrow show
    assert load.stats["format"] == "parquet" and {r["currency"] for r in rows} == {"EUR"}


def _other_layout(write_csv):
    return write_csv([{"Item No": "M-1", "Product Title": "Lamp", "Dept": "Home", "Retail": "RMB 399",
                       "Photo File": "photo.jpg", "Notes": "fragile"}])


@pytest.mark.parametrize("kind", ["dict", "yaml", "json"])
def test_mapping(kind, tmp_path, write_csv):
    path = _other_layout(write_csv)
    mapping = {"sku": "Item No", "name": "Product Title", "category": "Dept", "price": "Retail",
               "image": "Photo File"}
    if kind == "yaml":
        (tmp_path / "map.yaml").write_text("columns:\n" + "".join(f"  {k}: {v}\n" for k, v in mapping.items()))
        mapping = tmp_path / "map.yaml"
    elif kind == "json":
        (tmp_path / "map.json").write_text(json.dumps(mapping))
        mapping = str(tmp_path / "map.json")
    load = load_catalog(path, mapping=mapping)
    assert load.rejects.num_rows == 0
    row = load.table.to_pylist()[0]
    assert (row["sku"], row["name"], row["category"], row["price"]) == ("M-1", "Lamp", "home_decor", 399.0)
    assert json.loads(row["attributes"]) == {"Notes": "fragile"}


def test_mapping_errors_name_the_file_and_field(tmp_path, write_csv):
    path = _other_layout(write_csv)
    bad_field = tmp_path / "bad_field.yaml"
    bad_field.write_text("skew: Item No\n")
    with pytest.raises(CatalogError, match=r"bad_field\.yaml.*'skew'"):
        load_catalog(path, mapping=bad_field)
    bad_column = tmp_path / "bad_column.yaml"
    bad_column.write_text("sku: Item Number\nprice: Retail\nimage: Photo File\n")
    with pytest.raises(CatalogError, match=r"bad_column\.yaml.*'Item Number'"):
        load_catalog(path, mapping=bad_column)


def test_unmapped_layout_is_a_clear_error(write_csv):
    path = _other_layout(write_csv)
    with pytest.raises(CatalogError, match=r"catalog\.csv.*no column for sku, price, image"):
        load_catalog(path)


def test_unreadable_files_raise_catalog_error_naming_the_file(tmp_path):
    with pytest.raises(CatalogError, match="nope.csv.*not found"):
        load_catalog(tmp_path / "nope.csv")
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(CatalogError, match="broken.xlsx"):
        load_catalog(broken)
    broken_pq = tmp_path / "broken.parquet"
    broken_pq.write_bytes(b"PAR1garbage")
    with pytest.raises(CatalogError, match="broken.parquet"):
        load_catalog(broken_pq)
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(CatalogError, match="empty.csv.*empty"):
        load_catalog(empty)
    binary = tmp_path / "binary.csv"
    binary.write_bytes(bytes(range(128, 256)) * 4)
    with pytest.raises(CatalogError, match="binary.csv"):
        load_catalog(binary)


def test_fmt_overrides_the_extension(write_csv, catalog_row):
    path = write_csv([catalog_row("F-1")], name="export.dat")
    assert load_catalog(path, fmt="csv").table.column("sku").to_pylist() == ["F-1"]
    with pytest.raises(CatalogError, match="unknown format"):
        load_catalog(path, fmt="numbers")
