"""The signature check on its own: Slack's documented example, the window edges, single use."""

from __future__ import annotations

import pytest

from gateway.integrations.slack_signature import SignatureRefused, SignatureVerifier, sign

# The worked example in Slack's "Verifying requests from Slack".
DOC_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
DOC_TIMESTAMP = "1531420618"
DOC_BODY = (
    b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
    b"&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
    b"&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
    b"&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
DOC_SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
SENT_AT = int(DOC_TIMESTAMP)


def reason(verifier: SignatureVerifier, *args: object, now: float) -> str | None:
    try:
        verifier.verify(*args, now=now)  # type: ignore[arg-type]
    except SignatureRefused as exc:
        return exc.reason
    return None


def test_slacks_documented_example_signs_and_verifies() -> None:
    assert sign(DOC_SECRET, DOC_TIMESTAMP, DOC_BODY) == DOC_SIGNATURE
    assert reason(SignatureVerifier(DOC_SECRET, 300), DOC_TIMESTAMP, DOC_SIGNATURE, DOC_BODY, now=SENT_AT + 60) is None


@pytest.mark.parametrize(
    ("skew", "expected"), [(-300, None), (300, None), (-301, "stale"), (301, "stale"), (-86_400, "stale")]
)
def test_the_window_is_five_minutes_either_way(skew: int, expected: str | None) -> None:
    verifier = SignatureVerifier(DOC_SECRET, 300)
    assert reason(verifier, DOC_TIMESTAMP, DOC_SIGNATURE, DOC_BODY, now=SENT_AT - skew) == expected


def test_each_signature_counts_once_and_forgeries_do_not_use_it_up() -> None:
    verifier = SignatureVerifier(DOC_SECRET, 300)
    now = SENT_AT + 1
    assert reason(verifier, DOC_TIMESTAMP, DOC_SIGNATURE.replace("a2", "b2", 1), DOC_BODY, now=now) == "forged"
    assert reason(verifier, DOC_TIMESTAMP, DOC_SIGNATURE, DOC_BODY + b"&x=1", now=now) == "forged"
    assert reason(verifier, str(SENT_AT + 1), DOC_SIGNATURE, DOC_BODY, now=now) == "forged", "timestamp is signed"
    assert reason(verifier, DOC_TIMESTAMP, DOC_SIGNATURE, DOC_BODY, now=now) is None
    assert reason(verifier, DOC_TIMESTAMP, DOC_SIGNATURE, DOC_BODY, now=now + 100) == "replayed"
    assert reason(verifier, None, DOC_SIGNATURE, DOC_BODY, now=now) == "unsigned"
    assert reason(verifier, DOC_TIMESTAMP, "", DOC_BODY, now=now) == "unsigned"
