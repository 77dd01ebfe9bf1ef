"""What the publisher does with one act on a comment or message (pure: decide.decide_feedback)."""

from __future__ import annotations

import pytest

from loa_publisher.decide import UNKNOWN_CHANNEL, Act, Ignore, Refuse, Repeat, decide_feedback
from loa_publisher.ledger import ActionState
from tests.support.bilingual import assert_bilingual


@pytest.mark.parametrize("action", ["assign", "tag", "handled", "reopen"])
def test_the_inboxs_own_acts_are_ignored_even_when_seen_before(action: str) -> None:
    for done in (None, ActionState.DOING, ActionState.DONE):
        assert decide_feedback(action, done, platform="youtube", has_adapter=True) == Ignore()  # type: ignore[arg-type]


@pytest.mark.parametrize("action", ["reply", "hide", "unhide"])
def test_a_new_act_is_done_and_one_cut_short_is_finished(action: str) -> None:
    assert decide_feedback(action, None, platform="facebook", has_adapter=True) == Act(again=False)  # type: ignore[arg-type]
    assert decide_feedback(action, ActionState.DOING, platform="facebook", has_adapter=True) == Act(again=True)  # type: ignore[arg-type]


@pytest.mark.parametrize("done", [ActionState.DONE, ActionState.FAILED])
def test_an_answered_act_is_answered_again_never_done_again(done: ActionState) -> None:
    # Even if the channel went away since: the answer stands.
    assert decide_feedback("reply", done, platform=None, has_adapter=False) == Repeat()


def test_what_a_platform_cannot_do_is_refused_in_both_languages() -> None:
    for platform, action in (("zalo", "hide"), ("zalo", "unhide"), ("tiktok", "reply"), ("local", "hide")):
        step = decide_feedback(action, None, platform=platform, has_adapter=True)  # type: ignore[arg-type]
        assert isinstance(step, Refuse), (platform, action)
        assert platform in step.reason
        assert_bilingual(step.reason)
    assert decide_feedback("reply", None, platform="zalo", has_adapter=True) == Act(again=False)


def test_no_adapter_or_no_channel_is_refused() -> None:
    assert isinstance(decide_feedback("reply", None, platform="youtube", has_adapter=False), Refuse)
    unknown = decide_feedback("hide", None, platform=None, has_adapter=False)
    assert unknown == Refuse(UNKNOWN_CHANNEL)
    assert_bilingual(UNKNOWN_CHANNEL)
