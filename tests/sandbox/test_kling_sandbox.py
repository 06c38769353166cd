"""The Kling text-to-audio imitation, spoken to with raw httpx over loopback.

Strictness (every auth code, every field limit, duplicate external ids, paging
bounds), the state progression, the FAILME/POLICYME paths, link expiry, and the
audio itself (exact length, determinism). The studio's own client is exercised
against the same server in tests/engines/test_kling_contract.py.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from studio.engines.jwt import encode_hs256
from studio.sandbox.app import EngineSite, SandboxConfig, SandboxCredentials
from studio.sandbox.engines.kling import (
    BASE_PATH,
    FAIL_MARKER,
    POLICY_MARKER,
    SAMPLE_RATE,
    sandbox_of,
)
from studio.sandbox.synth import decode_wav
from tests.sandbox_support import FAST, running_site

CREDS = SandboxCredentials()
KEY_AUTH = {"Authorization": f"Bearer {CREDS.api_keys['kling']}"}
TIMEOUT = httpx.Timeout(10.0)
# Every wait below is bounded by this many seconds.
WAIT_S = 8.0


def jwt_auth(
    *,
    iss: str = CREDS.kling_access_key,
    secret: str = CREDS.kling_secret_key,
    nbf_in: float = -5,
    exp_in: float = 1800,
) -> dict[str, str]:
    now = int(time.time())
    token = encode_hs256({"iss": iss, "exp": now + exp_in, "nbf": now + nbf_in}, secret)
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def site() -> Iterator[EngineSite]:
    with running_site("kling") as running:
        yield running


@pytest.fixture
def http(site: EngineSite) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=site.base_url, timeout=TIMEOUT) as client:
        yield client


def create(
    http: httpx.Client,
    prompt: str = "rain on a tin roof",
    duration: Any = 3.0,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> httpx.Response:
    body = {"prompt": prompt, "duration": duration, **extra}
    return http.post(BASE_PATH, json=body, headers=KEY_AUTH if headers is None else headers)


def created_id(http: httpx.Client, **kwargs: Any) -> str:
    answer = create(http, **kwargs)
    assert answer.status_code == 200, answer.text
    task_id: str = answer.json()["data"]["task_id"]
    return task_id


def query(http: httpx.Client, task_id: str) -> dict[str, Any]:
    answer = http.get(f"{BASE_PATH}/{task_id}", headers=KEY_AUTH)
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()["data"]
    return data


def until_final(http: httpx.Client, task_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        data = query(http, task_id)
        if data["task_status"] in ("succeed", "failed"):
            return data
        time.sleep(0.03)
    raise AssertionError(f"task {task_id} did not finish in {WAIT_S} s")


def refused(answer: httpx.Response, status: int, code: int) -> str:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert body["code"] == code
    assert body["request_id"]
    message: str = body["message"]
    return message


# --------------------------------------------------------------------------- auth


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, 1001),
        ({"Authorization": ""}, 1001),
        ({"Authorization": "Bearer"}, 1001),
        ({"Authorization": f"Basic {CREDS.api_keys['kling']}"}, 1002),
        ({"Authorization": "Bearer not-a-key-nor-a-jwt"}, 1002),
        ({"Authorization": "Bearer a.b.c"}, 1002),
        (jwt_auth(secret="some-other-secret"), 1002),
        (jwt_auth(iss="someone-else"), 1002),
        (jwt_auth(nbf_in=600, exp_in=2400), 1003),
        (jwt_auth(nbf_in=-3600, exp_in=-10), 1004),
    ],
    ids=[
        "missing",
        "empty",
        "bearer-empty",
        "basic",
        "wrong-key",
        "malformed-jwt",
        "bad-signature",
        "wrong-iss",
        "not-yet-valid",
        "expired",
    ],
)
def test_every_auth_failure_has_its_code_on_every_route(
    site: EngineSite, http: httpx.Client, headers: dict[str, str], code: int
) -> None:
    task_id = created_id(http)
    calls = [
        ("POST", BASE_PATH, {"prompt": "wind", "duration": 3.0}),
        ("GET", f"{BASE_PATH}/{task_id}", None),
        ("GET", BASE_PATH, None),
    ]
    for method, path, body in calls:
        answer = http.request(method, path, json=body, headers=headers)
        refused(answer, 401, code)
    assert len(sandbox_of(site).tasks()) == 1  # the refused create made nothing


def test_token_without_exp_is_refused(http: httpx.Client) -> None:
    token = encode_hs256({"iss": CREDS.kling_access_key}, CREDS.kling_secret_key)
    answer = create(http, headers={"Authorization": f"Bearer {token}"})
    assert "exp" in refused(answer, 401, 1002)


@pytest.mark.parametrize("headers", [KEY_AUTH, jwt_auth()], ids=["reseller-key", "jwt"])
def test_both_kinds_of_token_are_accepted(http: httpx.Client, headers: dict[str, str]) -> None:
    answer = create(http, headers=headers)
    assert answer.status_code == 200
    assert answer.json()["code"] == 0


# --------------------------------------------------------------------------- create strictness


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"prompt": "x" * 201, "duration": 5.0}, "prompt"),
        ({"prompt": "   ", "duration": 5.0}, "prompt"),
        ({"duration": 5.0}, "prompt"),
        ({"prompt": 7, "duration": 5.0}, "prompt"),
        ({"prompt": "wind", "duration": 2.9}, "duration"),
        ({"prompt": "wind", "duration": 10.1}, "duration"),
        ({"prompt": "wind", "duration": 5.05}, "duration"),
        ({"prompt": "wind", "duration": "5"}, "duration"),
        ({"prompt": "wind", "duration": True}, "duration"),
        ({"prompt": "wind"}, "duration"),
        ({"prompt": "wind", "duration": 5.0, "callback_url": "ftp://x"}, "callback_url"),
        ({"prompt": "wind", "duration": 5.0, "external_task_id": 12}, "external_task_id"),
        ({"prompt": "wind", "duration": 5.0, "model": "v2"}, "model"),
    ],
)
def test_invalid_fields_get_1201_naming_the_field(
    site: EngineSite, http: httpx.Client, body: dict[str, Any], field: str
) -> None:
    message = refused(http.post(BASE_PATH, json=body, headers=KEY_AUTH), 400, 1201)
    assert field in message
    assert sandbox_of(site).tasks() == []


@pytest.mark.parametrize(
    "body",
    [
        {"prompt": "x" * 200, "duration": 3.0},
        {"prompt": "wind", "duration": 10},
        {"prompt": "wind", "duration": 3.3000000000000003},
        {"prompt": "wind", "duration": 7.5, "callback_url": "https://example.com/hook"},
        {"prompt": "wind", "duration": 7.5, "external_task_id": ""},
    ],
)
def test_limits_are_inclusive(http: httpx.Client, body: dict[str, Any]) -> None:
    answer = http.post(BASE_PATH, json=body, headers=KEY_AUTH)
    assert answer.status_code == 200, answer.text
    data = answer.json()["data"]
    assert data["task_status"] == "submitted"
    assert isinstance(data["created_at"], int) and data["created_at"] > 1_600_000_000_000


def test_a_body_that_is_not_a_json_object_is_an_invalid_request(http: httpx.Client) -> None:
    json_type = {**KEY_AUTH, "Content-Type": "application/json"}
    refused(http.post(BASE_PATH, content=b"{nope", headers=json_type), 400, 1200)
    refused(http.post(BASE_PATH, content=b"[1, 2]", headers=json_type), 400, 1200)
    form = {**KEY_AUTH, "Content-Type": "application/x-www-form-urlencoded"}
    refused(http.post(BASE_PATH, content=b"prompt=x&duration=3", headers=form), 400, 1200)


def test_duplicate_external_task_id_is_refused(site: EngineSite, http: httpx.Client) -> None:
    first = created_id(http, external_task_id="ck-dup")
    message = refused(create(http, prompt="wind", external_task_id="ck-dup"), 400, 1201)
    assert "duplicate external_task_id" in message
    # The same id through the other kind of token is the same account.
    refused(create(http, headers=jwt_auth(), external_task_id="ck-dup"), 400, 1201)
    assert [task.task_id for task in sandbox_of(site).tasks()] == [first]
    created_id(http, external_task_id="ck-other")  # a different id is fine


def test_content_policy_refuses_the_create(site: EngineSite, http: httpx.Client) -> None:
    answer = create(http, prompt=f"a {POLICY_MARKER} sound", external_task_id="ck-p")
    refused(answer, 400, 1301)
    assert sandbox_of(site).tasks() == []
    created_id(http, external_task_id="ck-p")  # the refused create did not take the id


def test_other_methods_and_paths_get_1202(http: httpx.Client) -> None:
    refused(http.delete(BASE_PATH, headers=KEY_AUTH), 404, 1202)
    refused(http.put(f"{BASE_PATH}/abc", headers=KEY_AUTH), 404, 1202)
    refused(http.get("/v1/audio/text-to-music", headers=KEY_AUTH), 404, 1202)
    refused(http.delete(BASE_PATH), 401, 1001)  # auth is still checked first


# --------------------------------------------------------------------------- query and list


def test_query_by_task_id_or_external_id(http: httpx.Client) -> None:
    task_id = created_id(http, external_task_id="ck-q")
    by_id, by_external = query(http, task_id), query(http, "ck-q")
    assert by_id["task_id"] == by_external["task_id"] == task_id
    assert by_external["task_info"] == {"external_task_id": "ck-q"}
    refused(http.get(f"{BASE_PATH}/no-such-task", headers=KEY_AUTH), 404, 1203)


def test_list_is_newest_first_and_paged(http: httpx.Client) -> None:
    ids = [created_id(http, prompt=f"bell {n}") for n in range(5)]
    answer = http.get(BASE_PATH, params={"pageNum": 1, "pageSize": 2}, headers=KEY_AUTH)
    assert answer.status_code == 200 and answer.json()["code"] == 0
    assert [t["task_id"] for t in answer.json()["data"]] == [ids[4], ids[3]]
    page3 = http.get(BASE_PATH, params={"pageNum": 3, "pageSize": 2}, headers=KEY_AUTH)
    assert [t["task_id"] for t in page3.json()["data"]] == [ids[0]]
    default = http.get(BASE_PATH, headers=KEY_AUTH).json()["data"]
    assert [t["task_id"] for t in default] == ids[::-1]
    far = http.get(BASE_PATH, params={"pageNum": 1000, "pageSize": 500}, headers=KEY_AUTH)
    assert far.status_code == 200 and far.json()["data"] == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"pageNum": 0}, "pageNum"),
        ({"pageNum": 1001}, "pageNum"),
        ({"pageNum": "x"}, "pageNum"),
        ({"pageNum": -1}, "pageNum"),
        ({"pageNum": ""}, "pageNum"),
        ({"pageSize": 0}, "pageSize"),
        ({"pageSize": 501}, "pageSize"),
        ({"pageSize": "2.5"}, "pageSize"),
    ],
)
def test_list_paging_bounds(http: httpx.Client, params: dict[str, Any], field: str) -> None:
    answer = http.get(BASE_PATH, params=params, headers=KEY_AUTH)
    assert field in refused(answer, 400, 1201)


# --------------------------------------------------------------------------- states


def test_states_progress_submitted_processing_succeed() -> None:
    with (
        running_site("kling", SandboxConfig(task_seconds=0.8, link_ttl_s=600.0)) as site,
        httpx.Client(base_url=site.base_url, timeout=TIMEOUT) as http,
    ):
        answer = create(http)
        assert answer.json()["data"]["task_status"] == "submitted"
        task_id = answer.json()["data"]["task_id"]
        # The create answer counts as the first sighting, so a slow first poll on a
        # busy machine cannot miss the short "submitted" phase.
        seen: list[str] = ["submitted"]
        updated: list[int] = [answer.json()["data"]["updated_at"]]
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline and (not seen or seen[-1] != "succeed"):
            data = query(http, task_id)
            if not seen or seen[-1] != data["task_status"]:
                seen.append(data["task_status"])
                updated.append(data["updated_at"])
            if data["task_status"] != "succeed":
                assert "task_result" not in data
            time.sleep(0.02)
        assert seen == ["submitted", "processing", "succeed"]
        assert updated == sorted(updated) and updated[0] < updated[-1]


def test_failme_ends_failed_with_a_reason(http: httpx.Client) -> None:
    data = until_final(http, created_id(http, prompt=f"thunder {FAIL_MARKER}"))
    assert data["task_status"] == "failed"
    assert data["task_status_msg"]
    assert "task_result" not in data
    assert data["final_unit_deduction"] == "0"


def test_success_carries_audios_and_units(site: EngineSite, http: httpx.Client) -> None:
    data = until_final(http, created_id(http, prompt="laser zap", duration=4.2))
    assert data["task_status"] == "succeed"
    assert data["task_status_msg"] == ""
    (audio,) = data["task_result"]["audios"]
    assert set(audio) == {"id", "url_mp3", "url_wav", "duration_mp3", "duration_wav"}
    assert audio["duration_mp3"] == audio["duration_wav"] == "4.2"
    assert isinstance(data["final_unit_deduction"], str) and float(data["final_unit_deduction"]) > 0
    # The same links on the next poll: the audio was rendered once, and is cached.
    again = query(http, data["task_id"])["task_result"]["audios"][0]
    assert again["url_wav"] == audio["url_wav"]
    assert len(site.media) == 2
    mp3 = httpx.get(audio["url_mp3"], timeout=TIMEOUT)
    assert mp3.status_code == 200 and mp3.headers["content-type"] == "audio/mpeg"
    assert mp3.content[:3] == b"ID3" or mp3.content[0] == 0xFF


def test_list_renders_finished_tasks_too(http: httpx.Client) -> None:
    task_id = created_id(http, prompt="footsteps on gravel")
    until_final(http, task_id)
    (listed,) = http.get(BASE_PATH, headers=KEY_AUTH).json()["data"]
    assert listed["task_result"]["audios"][0]["url_wav"]


# --------------------------------------------------------------------------- links and audio


def test_expired_link_answers_403_and_a_later_poll_refreshes_it() -> None:
    config = SandboxConfig(task_seconds=0.1, link_ttl_s=1.0)
    with (
        running_site("kling", config) as site,
        httpx.Client(base_url=site.base_url, timeout=TIMEOUT) as http,
    ):
        task_id = created_id(http)
        url = until_final(http, task_id)["task_result"]["audios"][0]["url_wav"]
        assert httpx.get(url, timeout=TIMEOUT).status_code == 200
        deadline = time.monotonic() + 4.0
        expired = httpx.get(url, timeout=TIMEOUT)
        while expired.status_code == 200 and time.monotonic() < deadline:
            time.sleep(0.1)
            expired = httpx.get(url, timeout=TIMEOUT)
        assert expired.status_code == 403
        assert b"Request has expired" in expired.content
        fresh = query(http, task_id)["task_result"]["audios"][0]["url_wav"]
        assert fresh != url
        assert httpx.get(fresh, timeout=TIMEOUT).status_code == 200
        assert len(site.media) == 2  # refreshed links point at the same objects


def test_revoked_link_answers_403(site: EngineSite, http: httpx.Client) -> None:
    url = until_final(http, created_id(http))["task_result"]["audios"][0]["url_mp3"]
    site.media.expire(url)
    answer = httpx.get(url, timeout=TIMEOUT)
    assert answer.status_code == 403 and b"Request has expired" in answer.content


@pytest.mark.parametrize("duration", [3.0, 5.5, 10.0])
def test_effect_length_is_exactly_the_duration(
    site: EngineSite, http: httpx.Client, duration: float
) -> None:
    data = until_final(http, created_id(http, prompt="bells and wind", duration=duration))
    url = data["task_result"]["audios"][0]["url_wav"]
    samples, rate = decode_wav(site.media.data_for(url))
    assert rate == SAMPLE_RATE
    assert samples.shape[0] == 2
    assert abs(samples.shape[1] - duration * rate) <= 1
    assert float(data["task_result"]["audios"][0]["duration_wav"]) == pytest.approx(duration)


def test_same_prompt_and_duration_give_the_same_audio(site: EngineSite, http: httpx.Client) -> None:
    def audio(prompt: str) -> tuple[bytes, bytes]:
        found = until_final(http, created_id(http, prompt=prompt, duration=3.5))
        item = found["task_result"]["audios"][0]
        return site.media.data_for(item["url_wav"]), site.media.data_for(item["url_mp3"])

    first, second, other = audio("rain on a tin roof"), audio("rain on a tin roof"), audio("wind")
    assert first == second
    assert first[0] != other[0]


def test_fast_config_is_what_the_other_tests_assume() -> None:
    # The waits above are sized for FAST's task time; a slower default would time out.
    assert FAST.task_seconds < 1.0 < WAIT_S
