"""The start-up banner: every link it prints answers something useful."""

from __future__ import annotations

import re

from starlette.testclient import TestClient

from losant_kit.mockserver.app import MockApp
from losant_kit.mockserver.cli import banner

URL = "http://127.0.0.1:8080"


def banner_paths(mock: MockApp) -> list[str]:
    text = banner(URL, mock.world_summary, 0.5)
    return [match[len(URL):] for match in re.findall(rf"{re.escape(URL)}\S*", text)]


def test_banner_prints_the_spec_ui_control_api_and_index(mock: MockApp) -> None:
    assert set(banner_paths(mock)) >= {"/openapi.json", "/ui/", "/_mock/", "/_mock/index.json", "/"}


def test_every_banner_link_answers_200(client: TestClient, mock: MockApp) -> None:
    for path in banner_paths(mock):
        assert client.get(path).status_code == 200, path


def test_root_index_links_to_every_part_and_each_answers(client: TestClient) -> None:
    index = client.get("/").json()
    assert index["links"]["control"] == "/_mock/index.json"
    assert index["links"]["inspector"] == "/_mock/"
    for name, path in index["links"].items():
        assert client.get(path).status_code == 200, name


def test_control_index_is_the_same_as_the_root_index(client: TestClient) -> None:
    assert client.get("/_mock/index.json").json() == client.get("/").json()


def test_control_root_is_the_inspector_page(client: TestClient) -> None:
    page = client.get("/_mock/")
    assert page.headers["content-type"].startswith("text/html")
    assert "<title>Losant mock inspector</title>" in page.text
    # Without the slash, a redirect: the page's relative links need it.
    assert client.get("/_mock").url.path == "/_mock/"
