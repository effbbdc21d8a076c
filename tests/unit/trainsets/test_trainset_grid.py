"""Numbered contact sheets of a set: the geometry against hand-computed layouts, then the
pixels of rendered sheets (background, centring, number badges, JPEG quality), and the safe
decoding of untrusted image files."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from shared.core.errors import PermanentError
from shared.media import contact_sheet
from shared.trainsets.grid import Cell, layout, open_image, render
from shared.trainsets.settings import GridSettings

GRID = GridSettings()  # 200 px cells, 5 columns, #F0F0F0, JPEG 90, 25 cells a sheet
BACKGROUND = (240, 240, 240)
YELLOW = (255, 220, 0)


def close(pixel, colour, slack=12):
    return all(abs(a - b) <= slack for a, b in zip(pixel, colour, strict=True))


def decode(jpeg: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(jpeg))
    assert image.format == "JPEG"
    return image.convert("RGB")


def squares(count: int, colour=YELLOW, side: int = 300) -> list[tuple[str, Image.Image]]:
    return [
        (f"img{n:02d}.png", Image.new("RGB", (side, side), colour)) for n in range(1, count + 1)
    ]


# --- geometry --------------------------------------------------------------------------------


def test_seven_images_make_one_sheet_of_two_rows():
    [sheet] = layout(7, GRID)

    assert (sheet.index, sheet.width, sheet.height) == (0, 1000, 400)
    assert (sheet.columns, sheet.rows) == (5, 2)
    assert sheet.numbers == [1, 2, 3, 4, 5, 6, 7]
    assert sheet.cells[0] == Cell(number=1, row=0, column=0, box=(0, 0, 200, 200))
    assert sheet.cells[4] == Cell(number=5, row=0, column=4, box=(800, 0, 1000, 200))
    assert sheet.cells[5] == Cell(number=6, row=1, column=0, box=(0, 200, 200, 400))
    assert sheet.cells[6] == Cell(number=7, row=1, column=1, box=(200, 200, 400, 400))


def test_twenty_seven_images_continue_their_numbers_on_a_second_sheet():
    first, second = layout(27, GRID)

    assert (first.width, first.height, len(first.cells)) == (1000, 1000, 25)
    assert first.cells[-1] == Cell(number=25, row=4, column=4, box=(800, 800, 1000, 1000))
    assert (second.index, second.width, second.height) == (1, 400, 200)
    assert (second.columns, second.rows) == (2, 1)
    assert second.cells == (
        Cell(number=26, row=0, column=0, box=(0, 0, 200, 200)),
        Cell(number=27, row=0, column=1, box=(200, 0, 400, 200)),
    )


def test_one_image_and_none():
    [sheet] = layout(1, GRID)
    assert (sheet.width, sheet.height, sheet.cells) == (
        200, 200, (Cell(number=1, row=0, column=0, box=(0, 0, 200, 200)),))  # fmt: skip
    assert layout(0, GRID) == []
    with pytest.raises(ValueError, match="count"):
        layout(-1, GRID)


def test_other_settings_shape_the_sheets():
    # 9 images, 100 px cells, 3 columns, 4 cells a sheet: 4 + 4 + 1
    grid = GridSettings(thumbnail=100, columns=3, max_cells=4)

    sheets = layout(9, grid)

    assert [(s.width, s.height) for s in sheets] == [(300, 200), (300, 200), (100, 100)]
    assert [s.numbers for s in sheets] == [[1, 2, 3, 4], [5, 6, 7, 8], [9]]
    assert sheets[1].cells[3] == Cell(number=8, row=1, column=0, box=(0, 100, 100, 200))


# --- pixels ----------------------------------------------------------------------------------


def test_a_sheet_is_a_jpeg_of_its_layout_on_the_background():
    [composite] = render(squares(7), GRID)

    sheet = decode(composite.jpeg)
    assert sheet.size == (1000, 400)
    assert composite.layout == layout(7, GRID)[0]
    assert composite.files == {n: f"img{n:02d}.png" for n in range(1, 8)}
    # cells 8-10 are empty: flat background, exact even through JPEG
    for x, y in ((500, 300), (700, 250), (990, 390), (410, 210)):
        assert sheet.getpixel((x, y)) == BACKGROUND
    assert close(sheet.getpixel((300, 300)), YELLOW)  # cell 7's picture


def test_the_background_colour_is_exact_before_compression():
    picture = contact_sheet([Image.new("RGB", (50, 100), YELLOW)], background=(240, 240, 240))

    assert picture.getpixel((0, 0)) == BACKGROUND
    assert picture.getpixel((199, 199)) == BACKGROUND


def test_a_tall_picture_is_centred_with_equal_side_margins():
    # 100x400 fits its 200 px cell as 50x200: 75 px of background left and right
    tall = Image.new("RGB", (100, 400), (200, 30, 30))
    [composite] = render([("tall.png", tall), *squares(1)], GRID)
    sheet = decode(composite.jpeg)

    row = [sheet.getpixel((x, 150)) for x in range(200)]
    picture = [x for x, pixel in enumerate(row) if close(pixel, (200, 30, 30), 40)]
    left, right = picture[0], 199 - picture[-1]
    assert left == right
    assert 73 <= left <= 77  # JPEG blurs an edge by a pixel or two
    assert all(close(pixel, BACKGROUND, 6) for pixel in row[:64] + row[136:190])
    assert close(sheet.getpixel((100, 199)), (200, 30, 30), 40)  # full height
    # before compression the edges are exact: columns 75 to 124
    exact = contact_sheet([tall], background=BACKGROUND, enlarge=True)
    columns = [x for x in range(200) if exact.getpixel((x, 150)) == (200, 30, 30)]
    assert (columns[0], columns[-1], len(columns)) == (75, 124, 50)


def test_a_small_picture_is_enlarged_to_fill_its_cell():
    [composite] = render([("small.png", Image.new("RGB", (40, 20), YELLOW))], GRID)
    sheet = decode(composite.jpeg)

    assert sheet.size == (200, 200)
    assert close(sheet.getpixel((195, 60)), YELLOW)  # 40x20 -> 200x100, rows 50-149
    assert close(sheet.getpixel((100, 140)), YELLOW)
    assert sheet.getpixel((100, 20)) == BACKGROUND
    assert sheet.getpixel((100, 180)) == BACKGROUND


def test_transparent_parts_show_the_background_not_black():
    clear = Image.new("RGBA", (200, 200), (0, 0, 0, 0))
    [composite] = render([("clear.png", clear)], GRID)

    assert decode(composite.jpeg).getpixel((150, 150)) == BACKGROUND


def badge_width(sheet: Image.Image, corner: tuple[int, int]) -> int:
    """How far the dark badge reaches right of ``corner``, along its third row of pixels."""
    x, y = corner
    width = 0
    while x + width < sheet.width and sum(sheet.getpixel((x + width, y + 2))) < 200:
        width += 1
    return width


def test_every_cell_carries_its_number_in_a_dark_badge_top_left():
    first, second = render(squares(27), GRID)

    for composite in (first, second):
        sheet = decode(composite.jpeg)
        for cell in composite.layout.cells:
            x0, y0, x1, y1 = cell.box
            assert sum(sheet.getpixel((x0 + 3, y0 + 3))) < 150, cell.number  # badge fill
            assert close(sheet.getpixel((x1 - 10, y1 - 10)), YELLOW), cell.number  # picture
            digits = sum(
                1
                for x in range(x0, x0 + 60)
                for y in range(y0, y0 + 40)
                if min(sheet.getpixel((x, y))) > 200 and sheet.getpixel((x, y))[2] > 200
            )
            assert digits > 20, cell.number  # white strokes (the picture is yellow: blue 0)
    one = badge_width(decode(first.jpeg), (1, 0))
    twenty_six = badge_width(decode(second.jpeg), (1, 0))
    assert 12 <= one < twenty_six  # two digits need a wider badge than one
    height = 0
    sheet = decode(first.jpeg)
    while sum(sheet.getpixel((4, height + 1))) < 200:
        height += 1
    assert height >= 20  # an 18 px font at least, with its padding


def test_a_sheet_without_numbers_has_no_badge():
    picture = contact_sheet([Image.new("RGB", (200, 200), YELLOW)])
    assert picture.getpixel((3, 3)) == YELLOW
    numbered = contact_sheet([Image.new("RGB", (200, 200), YELLOW)], numbers=[1])
    assert numbered.getpixel((3, 3)) == (0, 0, 0)
    with pytest.raises(ValueError, match="2 numbers for 1 images"):
        contact_sheet([Image.new("RGB", (200, 200), YELLOW)], numbers=[1, 2])


def quantization(jpeg: bytes) -> dict[int, list[int]]:
    with Image.open(io.BytesIO(jpeg)) as image:
        return {k: list(v) for k, v in image.quantization.items()}  # type: ignore[attr-defined]


def reference_jpeg(quality: int) -> bytes:
    data = io.BytesIO()
    Image.new("RGB", (16, 16), YELLOW).save(data, "JPEG", quality=quality)
    return data.getvalue()


@pytest.mark.parametrize("quality", [90, 60])
def test_sheets_are_saved_at_the_configured_jpeg_quality(quality):
    # the quantization tables of a JPEG are those of the quality it was saved at
    [composite] = render(squares(3), GridSettings(jpeg_quality=quality))

    assert quantization(composite.jpeg) == quantization(reference_jpeg(quality))
    assert quantization(composite.jpeg) != quantization(reference_jpeg(75))


# --- opening files ---------------------------------------------------------------------------


def encoded(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    data = io.BytesIO()
    image.save(data, fmt, **options)
    return data.getvalue()


def test_an_image_file_is_opened_fully_and_upright():
    image = open_image("a.png", encoded(Image.new("RGB", (40, 20), YELLOW)))
    assert (image.size, image.mode) == ((40, 20), "RGB")
    assert image.getpixel((0, 0)) == YELLOW

    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to view
    turned = open_image("phone.jpg", encoded(Image.new("RGB", (40, 20)), "JPEG", exif=exif))
    assert turned.size == (20, 40)


def test_what_is_not_a_picture_is_refused_by_name():
    with pytest.raises(PermanentError, match=r"notes\.txt: not an image"):
        open_image("notes.txt", b"hello, not a picture")
    with pytest.raises(PermanentError, match=r"empty\.png: not an image"):
        open_image("empty.png", b"")


def test_a_truncated_picture_is_refused_by_name():
    noise = Image.frombytes("RGB", (64, 64), bytes(range(256)) * 48)
    data = encoded(noise, "JPEG", quality=95)

    with pytest.raises(PermanentError, match=r"cut\.jpg: a broken or truncated picture"):
        open_image("cut.jpg", data[: len(data) // 2])


def test_a_decompression_bomb_is_refused_by_name(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    # between the limit and twice it Pillow only warns: refused all the same
    with (
        pytest.warns(Image.DecompressionBombWarning),
        pytest.raises(PermanentError, match=r"big\.png: too many pixels"),
    ):
        open_image("big.png", encoded(Image.new("RGB", (40, 40))))
    # past twice the limit Pillow raises
    with pytest.raises(PermanentError, match=r"huge\.png: too many pixels"):
        open_image("huge.png", encoded(Image.new("RGB", (100, 100))))
