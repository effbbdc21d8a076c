"""JSON that the document store or an export cannot hold is quarantined on first delivery.

Annotation files and video lists are parsed once, with the parser and the limits the exports
use: a file that is accepted can be stored and exported; one that is not is quarantined with
its name and the reason in words, and it stops a strict export like any quarantined file.
"""

from __future__ import annotations

import json

import orjson
import pytest
from captions_support import captured_events, dumps, feedback, video_list, watch
from typer.testing import CliRunner

from shared.bootstrap import Context, build_context, use_context
from shared.captions.export import ExportBlockedError, run_export
from shared.captions.files import parse_task_file, parse_video_list
from shared.captions.ingest import ingest_event
from shared.captions.layout import InvalidFileError
from shared.captions.messages import ExportRequest
from shared.captions.store import QUARANTINE, file_id
from shared.cli.main import app
from shared.config import Settings
from shared.core.jsonio import MAX_JSON_DEPTH, InvalidJsonError, decode_json, encode_json

NAME = "default/subject/v1_feedback.json"


def nested(levels: int) -> str:
    return "[" * levels + "]" * levels


def annotation(extra: str) -> bytes:
    """A valid feedback file with one more field, written as raw JSON text."""
    return dumps(feedback())[:-2] + f',\n  "extra": {extra}\n}}'.encode()


# Each hostile value, and the words the quarantine must use for it.
HOSTILE = [
    pytest.param(nested(300), "nested deeper than 64 levels", id="300-levels"),
    pytest.param(nested(100_000), "nested deeper than 64 levels", id="100000-levels"),
    pytest.param("1e400", "number out of range (1e400)", id="1e400"),
    pytest.param("-1E+400", "number out of range (-1E+400)", id="minus-1e400"),
    pytest.param('"\\ud800"', "text that is not valid Unicode (lone surrogate)", id="ud800"),
    pytest.param('"a\\udc00b"', "text that is not valid Unicode (lone surrogate)", id="udc00"),
    pytest.param(
        "18446744073709551616",
        "number out of range (integer 18446744073709551616 does not fit in 64 bits)",
        id="2**64",
    ),
]


@pytest.fixture
def services(tmp_path):
    built = build_context(Settings(home=tmp_path / "home", log_level="CRITICAL"))
    watch(built)
    yield built
    built.close()


def drop_and_ingest(services: Context, name: str, data: bytes) -> list:
    services.blobs.write(services.settings.annotations_bucket, name, data)
    return [ingest_event(services, event) for event in captured_events(services)]


# --- the parser -------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "said"), HOSTILE)
def test_the_parser_refuses_what_cannot_be_stored_and_says_why(value, said):
    with pytest.raises(InvalidJsonError) as refused:
        decode_json(f'{{"extra": {value}}}')

    assert said in str(refused.value)
    assert "\n" not in str(refused.value)


def test_a_lone_surrogate_in_a_key_is_refused_too():
    with pytest.raises(InvalidJsonError, match=r"not valid Unicode \(lone surrogate\)"):
        decode_json('{"caption": {"\\ud800": 1}}')


def test_the_depth_limit_is_exact_and_well_inside_what_an_export_can_write():
    deepest = decode_json(nested(MAX_JSON_DEPTH))

    with pytest.raises(InvalidJsonError, match="nested deeper than 64 levels"):
        decode_json(nested(MAX_JSON_DEPTH + 1))
    assert encode_json(deepest)  # whatever is accepted, the export can write


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 9223372036854775807, "b": -9223372036854775808}',  # 64-bit limits themselves
        '{"big": 1e308, "tiny": 1e-300, "digits": "123456789012345678901234567890"}',
        '{"float": 1e20, "quoted": "\\" 123456789012345678901234567890"}',
        '{"emoji": "\\ud83d\\ude00", "raw": "\u2028 and \u00e9"}',  # a valid surrogate pair
    ],
)
def test_ordinary_values_near_the_limits_still_pass(text):
    value = decode_json(text)

    assert orjson.loads(encode_json(value)) == value


def test_an_integer_beyond_64_bits_is_refused_even_where_the_parser_made_it_a_float():
    # orjson reads 2**70 as 1.18e21: the text is checked, and strings are not mistaken for it
    with pytest.raises(InvalidJsonError, match="integer 1180591620717411303424 does not fit"):
        decode_json('{"id": "1180591620717411303424", "n": 1180591620717411303424}')


# --- ingestion -----------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "said"), HOSTILE)
def test_an_unstorable_annotation_is_quarantined_on_its_first_delivery(services, value, said):
    # GIVEN an annotation file with one value that no store or export can hold
    data = annotation(value)
    assert len(data) <= services.settings.max_annotation_bytes

    # WHEN its one event is delivered
    (result,) = drop_and_ingest(services, NAME, data)

    # THEN it is quarantined at once (no exception, so no retry) with the file and the reason
    assert result.outcome == "quarantined"
    assert result.reason.startswith(f"{NAME}: ")
    assert said in result.reason
    record = services.documents.get(f"{QUARANTINE}/{file_id(NAME)}")
    assert record is not None
    assert said in record.data["error"]


@pytest.mark.parametrize(("value", "said"), HOSTILE)
def test_an_unstorable_video_list_line_is_quarantined(services, value, said):
    name = "default/videos/batch.jsonl"
    line = f'{{"video_id": "v2", "video_url": "https://example.org/v2.mp4", "x": {value}}}\n'

    (result,) = drop_and_ingest(services, name, video_list("v1") + line.encode())

    assert result.outcome == "quarantined"
    assert result.reason.startswith(f"{name} line 2: ")
    assert said in result.reason


def test_a_video_list_is_split_at_line_ends_only():
    # U+2028 and U+0085 are allowed unescaped inside JSON strings: they end no record
    line = {"video_id": "v1", "video_url": "https://example.org/a\u2028b\u0085c.mp4"}
    data = (json.dumps(line, ensure_ascii=False) + "\r\n").encode()

    assert parse_video_list("default/videos/a.jsonl", data) == {"v1": line["video_url"]}


def test_a_file_at_the_depth_limit_is_stored_and_exported_as_written(services):
    # GIVEN a feedback file 64 levels deep: its object, then 63 nested lists
    content = feedback(extra=json.loads(nested(MAX_JSON_DEPTH - 1)))
    services.blobs.write(services.settings.annotations_bucket, "default/videos/a.jsonl",
                         video_list("v1"))  # fmt: skip
    (*_, result) = drop_and_ingest(services, NAME, dumps(content))

    # WHEN it is exported
    export = run_export(services, ExportRequest(config_type="default"), request_id="r1")

    # THEN it counted, and the export holds it unchanged, inside its own nesting
    assert result.outcome == "applied"
    assert export.statistics["totals"]["quarantined_files"] == 0
    written = services.blobs.read(
        export.bucket, f"{export.folder}/all_videos_with_captions_{export.timestamp}.json"
    )
    (entry,) = orjson.loads(written)
    assert entry["captions"]["subject"]["caption_data"] == content


def test_a_quarantined_unstorable_file_stops_a_strict_export_by_name(services):
    # GIVEN one good annotation and one nested 300 levels deep
    services.blobs.write(services.settings.annotations_bucket, "default/videos/a.jsonl",
                         video_list("v1"))  # fmt: skip
    drop_and_ingest(services, "default/scene/v1_feedback.json", dumps(feedback()))
    drop_and_ingest(services, NAME, annotation(nested(300)))

    # WHEN a strict export runs THEN it stops, naming the file and the reason
    with pytest.raises(ExportBlockedError) as stopped:
        run_export(services, ExportRequest(config_type="default"), request_id="strict")
    assert f"quarantined: {NAME} — {NAME}: nested deeper than 64 levels" in str(stopped.value)

    # AND with --ignore-errors it is written, and the statistics show the file
    result = run_export(
        services, ExportRequest(config_type="default", ignore_errors=True), request_id="lax"
    )
    assert result.statistics["totals"]["quarantined_files"] == 1
    assert [q["name"] for q in result.statistics["quarantined"]] == [NAME]


def test_a_file_rejected_for_its_values_says_so_without_a_traceback():
    with pytest.raises(InvalidFileError) as refused:
        parse_task_file(NAME, "feedback", annotation('"\\ud800"'))

    message = str(refused.value)
    assert message == (
        f"{NAME}: text that is not valid Unicode (lone surrogate) at line 22 column 13"
    )


# --- what the user sees -------------------------------------------------------------------


def test_the_cli_quarantines_hostile_files_once_and_a_strict_export_stops(tmp_path):
    # GIVEN a campaign folder with three hostile annotations and one good one
    campaign = tmp_path / "campaign"
    (campaign / "videos").mkdir(parents=True)
    (campaign / "videos" / "a.jsonl").write_bytes(video_list("v1", "v2", "v3", "v4"))
    (campaign / "subject").mkdir()
    (campaign / "subject" / "v1_feedback.json").write_bytes(annotation(nested(100_000)))
    (campaign / "subject" / "v2_feedback.json").write_bytes(annotation("1e400"))
    (campaign / "subject" / "v3_feedback.json").write_bytes(annotation('"\\ud800"'))
    (campaign / "subject" / "v4_feedback.json").write_bytes(dumps(feedback()))
    home = ["--home", str(tmp_path / "home")]
    runner = CliRunner()
    try:
        # WHEN it is ingested
        ingested = runner.invoke(app, [*home, "ingest", str(campaign), "--json"])
        quarantine = runner.invoke(app, [*home, "quarantine", "--json"])
        letters = runner.invoke(app, [*home, "dlq", "list", "--json"])
        strict = runner.invoke(
            app, [*home, "export", "--export-dir", str(tmp_path / "out")], env={"COLUMNS": "300"}
        )
    finally:
        use_context(None)

    # THEN nothing failed or was retried: three files are quarantined, with their reasons
    assert ingested.exit_code == 0, ingested.output
    report = json.loads(ingested.output)
    assert report["failed_events"] == 0
    assert report["quarantined"] == 3
    assert json.loads(letters.output) == []
    reasons = {row["name"]: row["error"] for row in json.loads(quarantine.output)}
    assert reasons == {
        "default/subject/v1_feedback.json": "default/subject/v1_feedback.json: nested deeper "
        "than 64 levels",
        "default/subject/v2_feedback.json": "default/subject/v2_feedback.json: number out of "
        "range (1e400)",
        "default/subject/v3_feedback.json": "default/subject/v3_feedback.json: text that is not "
        "valid Unicode (lone surrogate) at line 22 column 13",
    }
    # AND the strict export stops in plain lines naming each file, with no traceback
    assert strict.exit_code == 1
    assert "Traceback" not in strict.output
    for name in reasons:
        assert name in strict.output
    assert not (tmp_path / "out").exists()
