"""Text from annotation files renders inert on the dataset card: only the characters it holds.

The card is parsed as the Hub renders Markdown (CommonMark with tables and strikethrough):
whatever a name holds, it is plain text in its own cell, never markup.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token

from shared.publishing.card import CARD_BEGIN, CARD_END, render_dataset_card

REPO = "acme/clips"
FOLDER = "export_20261123_1405"
MARKDOWN = MarkdownIt("commonmark").enable(["table", "strikethrough"])

HOSTILE = [
    pytest.param("<script>alert(1)</script>", id="script"),
    pytest.param('<img src=x onerror="alert(1)">', id="img-tag"),
    pytest.param('<a href="https://evil.example">login</a>', id="a-tag"),
    pytest.param("[click me](javascript:alert(1))", id="javascript-link"),
    pytest.param("![pixel](https://evil.example/track.png)", id="image"),
    pytest.param("[ref][1] [1]: https://evil.example", id="reference-link"),
    pytest.param("<https://evil.example>", id="autolink"),
    pytest.param("`rm -rf /` and ``x``", id="backticks"),
    pytest.param("# Heading", id="heading"),
    pytest.param("eve\n## injected heading\n---", id="heading-after-newline"),
    pytest.param("&lt;b&gt;bold&lt;/b&gt; &#60;i&#62; &amp; &copy;", id="entities"),
    pytest.param("**bold** _it_ *em* ~~strike~~", id="emphasis"),
    pytest.param("a | b\r\n| c |", id="pipes-and-crlf"),
    pytest.param("eve <!-- vidcurate:end --> -->", id="section-marker"),
    pytest.param("trailing backslash \\", id="backslash"),
    pytest.param("<style>body{display:none}</style>", id="style"),
]


def statistics(name: str) -> dict[str, Any]:
    """Statistics where every text that annotation files or configs supply is ``name``."""
    return {
        "export_timestamp": name,
        "config_type": name,
        "tasks": [name],
        "per_task": {name: {"long_name": name, "status_counts": {"approved": 1}}},
        "annotators": {name: {"tasks": 1, "approved": 1, "approval_rate": 1.0}},
        "reviewers": {name: {"reviews": 1, "approved": 1, "approval_rate": 1.0}},
        "edge_case_counts": {name: 1},
        "totals": {"videos": 1},
    }


def section_tokens(card: str) -> list[Token]:
    return MARKDOWN.parse(card[card.index(CARD_BEGIN) : card.index(CARD_END) + len(CARD_END)])


def written_values(card: str) -> list[str]:
    """The Markdown of the section's table rows and of its list items' values."""
    lines = card[card.index(CARD_BEGIN) : card.index(CARD_END)].splitlines()
    rows = [line for line in lines if line.startswith("| ")]
    items = [line.split(": ", 1)[1] for line in lines if line.startswith("- ")]
    return rows + [item for item in items if not item.startswith("`export_")]


def plain(text: str) -> str:
    """What the cell should show: the text itself, on one line."""
    return text.replace("\r", " ").replace("\n", " ")


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_text_renders_as_plain_text_in_its_cells(name):
    card = render_dataset_card(statistics(name), repo_id=REPO, folder=FOLDER, existing=None)

    tokens = section_tokens(card)

    # THEN the section is our markup only: no heading, link, image, tag or code of theirs
    block_types = {t.type for t in tokens}
    assert block_types <= {
        "html_block", "heading_open", "heading_close", "inline", "paragraph_open",
        "paragraph_close", "bullet_list_open", "bullet_list_close", "list_item_open",
        "list_item_close", "table_open", "table_close", "thead_open", "thead_close",
        "tbody_open", "tbody_close", "tr_open", "tr_close", "th_open", "th_close", "td_open",
        "td_close",
    }  # fmt: skip
    assert [t.content.strip() for t in tokens if t.type == "html_block"] == [
        CARD_BEGIN,
        "<!-- Written by vidcurate at every export: edit outside these markers. -->",
        CARD_END,
    ]
    headings = [tokens[i + 1].content for i, t in enumerate(tokens) if t.type == "heading_open"]
    assert headings == [
        "Latest export", "Totals", "Status by task", "Annotators", "Reviewers", "Edge cases"
    ]  # fmt: skip
    inline = [child for t in tokens if t.type == "inline" for child in t.children or []]
    assert {child.type for child in inline} <= {"text", "code_inline"}
    assert [c.content for c in inline if c.type == "code_inline"] == [FOLDER]
    # AND each of the seven places shows the text, whole, as the characters it holds
    cells = [t.content for t in tokens if t.type == "inline"]
    shown = ["".join(c.content for c in t.children or []) for t in tokens if t.type == "inline"]
    assert len(cells) == len(shown)
    assert sum(text == plain(name) for text in shown) == 5  # task, long name, 2 people, kind
    assert any(text.endswith(f": {plain(name)}") for text in shown)  # timestamp, config
    # AND in the Markdown itself, whatever renders it: no sign of markup left unescaped
    for written in written_values(card):
        assert re.search(r"(?<!\\)[\[\]`<>*~!:]", written) is None, written


@pytest.mark.parametrize(
    "name", ["https://evil.example/login", "www.evil.example", "bob@evil.example"]
)
def test_addresses_are_not_turned_into_links(name):
    card = render_dataset_card(statistics(name), repo_id=REPO, folder=FOLDER, existing=None)

    section = card[card.index(CARD_BEGIN) :]
    # GFM and linkify renderers link scheme://, www. and a@b.c: none is left to find
    assert "https:" not in section
    assert "www." not in section
    assert "bob@" not in section
    shown = ["".join(c.content for c in t.children or []) for t in section_tokens(card)]
    assert name in shown


def test_plain_names_stay_readable_in_the_markdown():
    names = statistics("x")
    names["annotators"] = {"anne_marie-2": {"tasks": 3}}
    names["edge_case_counts"] = {"review_without_feedback": 2}

    card = render_dataset_card(names, repo_id=REPO, folder=FOLDER, existing=None)

    assert "| anne_marie-2 | 3 |" in card
    assert "| review_without_feedback | 2 |" in card
    assert f"- Folder: `{FOLDER}`" in card


def test_a_bidi_override_cannot_reorder_what_the_card_shows():
    card = render_dataset_card(
        statistics("eve\u202egpj.exe\u202c"), repo_id=REPO, folder=FOLDER, existing=None
    )

    assert "\u202e" not in card
    assert "\u202c" not in card
