"""``GET /v1/decisions/{id}/proof`` from a real ``nextoffer serve`` whose sealer signs
checkpoints: the README's client-side check accepts the proof with the public key alone,
and rejects it once anything in it is changed."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature

from nextoffer.service.chain.service import generate_key
from nextoffer.testing.postgres import ThrowawayPostgres

from .server import Server, load_catalog

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def readme_verify_proof() -> Callable[[dict[str, Any], bytes], dict[str, Any]]:
    """The README's ``verify_proof``, run as written."""
    section = README[README.index("## Tamper-evident ledger") :]
    found = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert found is not None
    scope: dict[str, Any] = {}
    exec(found.group(1), scope)
    verify: Callable[[dict[str, Any], bytes], dict[str, Any]] = scope["verify_proof"]
    return verify


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def sealed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Server, Path]]:
    folder = tmp_path_factory.mktemp("chain")
    generate_key(folder / "signing.pem")
    if request.param == "sqlite":
        url = f"sqlite:///{folder / 'api.db'}"
    else:
        pg: ThrowawayPostgres = request.getfixturevalue("postgres")
        url = pg.new_database("chain")
    env = {"NEXTOFFER_ATTACH_REFRESH_SECONDS": "0", "NEXTOFFER_SEAL_SECONDS": "0.2",
           "NEXTOFFER_CHECKPOINT_KEY": str(folder / "signing.pem"),
           "NEXTOFFER_CHECKPOINT_DIR": str(folder / "checkpoints"),
           "NEXTOFFER_CHECKPOINT_ROWS": "1", "NEXTOFFER_CHECKPOINT_SECONDS": "0"}  # fmt: skip
    srv = Server(url, env=env).start()
    load_catalog(srv)
    yield srv, folder
    srv.stop()


def _proof(server: Server, decision_id: str) -> dict[str, Any]:
    with server.client("client") as client:
        for _ in range(150):  # the sealer runs every 0.2 s
            r = client.get(f"/v1/decisions/{decision_id}/proof")
            if r.status_code != 409:
                assert r.status_code == 200, r.text
                proof: dict[str, Any] = r.json()
                return proof
            time.sleep(0.2)
    raise AssertionError(f"no proof for {decision_id} within 30 s: {r.text}")


def test_a_decisions_proof_checks_with_the_public_key_alone(sealed: tuple[Server, Path]) -> None:
    server, folder = sealed
    body = {"customer": {"id": "proof-1"}, "channel": "pos",
            "cart": {"items": [{"sku": "STEAK-01", "category": "main_course", "price": 1200.0}]}}  # fmt: skip
    with server.client("client") as client:
        ids = [client.post("/v1/decisions", json=body).json()["id"] for _ in range(3)]
    verify_proof = readme_verify_proof()
    public = (folder / "signing.pem.pub").read_bytes()
    for decision_id in ids:
        proof = _proof(server, decision_id)
        row = verify_proof(proof, public)
        assert row["id"] == decision_id
        assert row["channel"] == "pos"
    assert (
        sorted(p.name for p in (folder / "checkpoints").iterdir())[0] == "checkpoint-00000001.json"
    )

    forged_row = {**proof, "row": proof["row"].replace('"pos"', '"email"')}
    other_path = {**proof, "path": ["0" * 64, *proof["path"][1:]]} if proof["path"] else None
    forged_signed = {**proof, "checkpoint": {**proof["checkpoint"],
                     "signed": proof["checkpoint"]["signed"].replace('"size":', '"size":1')}}  # fmt: skip
    for forged in (forged_row, other_path, forged_signed):
        if forged is not None:
            with pytest.raises((AssertionError, InvalidSignature)):
                verify_proof(forged, public)


def test_an_unknown_decisions_proof_is_a_404_naming_it(sealed: tuple[Server, Path]) -> None:
    server, _ = sealed
    with server.client("client") as client:
        r = client.get("/v1/decisions/no-such-decision/proof")
    assert r.status_code == 404
    assert "no-such-decision" in r.text
    with server.client() as anonymous:
        assert anonymous.get("/v1/decisions/no-such-decision/proof").status_code == 401
