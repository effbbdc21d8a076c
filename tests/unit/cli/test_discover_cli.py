"""``vidcurate discover run|status|bundles`` as a user runs them: a folder of clips and the
offline models, a dry run, the cost cap, the status and its JSON, bundles and their coverage,
and bad input in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from discovery_support import make_clip_folder
from typer.testing import CliRunner

from shared.bootstrap import use_context
from shared.cli.main import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def _forget_services():
    yield
    use_context(None)


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    return make_clip_folder(tmp_path_factory.mktemp("discover") / "clips")


def cli(home: Path, *args: str):
    return runner.invoke(app, ["--home", str(home), *args])


def test_run_status_and_bundles(tmp_path, source):
    words = tmp_path / "words.csv"
    words.write_text("word\nabandon\nability\nbrave\nzyzzyva\n")
    home = tmp_path / "home"

    result = cli(home, "discover", "run", "--words", str(words), "--source", str(source))
    assert result.exit_code == 0, result.output
    assert "4 words from" in result.output
    assert "offline models (labelled as such), no model spend" in result.output
    assert "4/4 words done, 0 failed, 0 remaining" in result.output
    assert "1 found no clip" in result.output

    status = json.loads(cli(home, "discover", "status", "--json").output)
    assert (status["done"], status["no_clips"], status["clips"]) == (4, 1, {"stored": 4})

    bundles = tmp_path / "bundles.csv"
    bundles.write_text(
        "bundle,word,language\nTOEFL Beginner,abandon,en\nTOEFL Beginner,zyzzyva,en\n"
    )
    loaded = cli(home, "discover", "bundles", "load", str(bundles))
    assert loaded.exit_code == 0, loaded.output
    assert "2 words in 1 bundles (toefl-beginner 2)" in loaded.output
    covered = json.loads(
        cli(home, "discover", "bundles", "coverage", "toefl-beginner", "--json").output
    )
    assert (covered["words"], covered["covered"], covered["uncovered"]) == (2, 1, ["zyzzyva"])
    assert covered["per_word"][0]["videos"] >= 1


def test_a_dry_run_and_the_cost_cap_queue_what_they_say(tmp_path, source):
    words = tmp_path / "words.csv"
    words.write_text("\n".join(f"w{n}" for n in range(10)))
    home = tmp_path / "home"
    dry = cli(home, "discover", "run", "--words", str(words), "--source", str(source), "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert dry.output.startswith("dry run: 10 words")
    capped = cli(home, "discover", "run", "--words", str(words), "--source", str(source),
                 "--max-videos", "10", "--max-cost-usd", "0.05", "--dry-run")  # fmt: skip
    assert capped.exit_code == 0, capped.output
    assert "--max-cost-usd 0.05:" in capped.output
    assert "left for a later run" in capped.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["discover", "run", "--words", "/nowhere.csv"], "--words: /nowhere.csv: no such file"),
        (["discover", "run", "--words", "WORDS", "--source", "/nowhere"], "--source: /nowhere"),
        (["discover", "run", "--words", "WORDS"], "ClipCafe needs an API key"),
        (["discover", "run", "--words", "WORDS", "--min-score", "2"], "--min-score"),
        (["discover", "status", "--run", "nope"], "discovery run 'nope' does not exist"),
        (["discover", "run", "--words", "WORDS", "--language", "EN!"], "--language: 'EN!' is not"),
        (
            ["discover", "run", "--words", "WORDS", "--max-cost-usd", "0"],
            "--max-cost-usd: 0 leaves",
        ),
        (["discover", "run", "--words", "WORDS", "--source", ""], "--source:  is neither"),
        (["discover", "run", "--words", "/tmp"], "is a folder, not a CSV file"),
        (
            ["discover", "bundles", "load", "WORDS"],
            "line 1 should name the columns bundle and word",
        ),
        (["discover", "bundles", "coverage", "nope"], "no bundle 'nope'"),
    ],
)
def test_bad_input_is_one_line(tmp_path, monkeypatch, args, message):
    monkeypatch.delenv("CLIPCAFE_API_KEY", raising=False)
    monkeypatch.delenv("VIDCURATE_CLIPCAFE_API_KEY", raising=False)
    words = tmp_path / "words.csv"
    words.write_text("word\nabandon\n")
    home = tmp_path / "home"
    cli(home, "discover", "bundles", "load", str(words))  # makes the home
    result = cli(home, *[str(words) if a == "WORDS" else a for a in args])
    assert result.exit_code in (1, 2)
    assert message in result.output
    assert "Traceback" not in result.output


def test_status_says_why_words_were_not_mapped(tmp_path, source):
    words = tmp_path / "words.csv"
    words.write_text("word\nabandon\nability\nbrave\n")
    home = tmp_path / "home"
    run = cli(home, "discover", "run", "--words", str(words), "--source", str(source),
              "--min-score", "0.95")  # fmt: skip
    assert run.exit_code == 0, run.output
    status = json.loads(cli(home, "discover", "status", "--json").output)
    assert status["refusals"]["relevance under --min-score"] >= 1
    assert "not mapped: relevance under --min-score" in cli(home, "discover", "status").output
