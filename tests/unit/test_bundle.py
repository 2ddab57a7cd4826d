"""The bundle tooling (pins, lock, compression, atomic build) and the SDK hosting rules."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import subprocess
import tarfile
from importlib.metadata import version
from pathlib import Path

import brotli
import pytest
from starlette.testclient import TestClient

from openproctor.core import SDK_VERSION
from openproctor.server import Settings, create_app
from openproctor.wasm import BuildError, builder, fetch
from openproctor.wasm.compress import precompress
from openproctor.wasm.lock import make_lock


def test_lock_lists_exactly_the_core_wheel(tmp_path):
    stock = tmp_path / "pyodide-lock.json"
    stock.write_text(
        json.dumps({"info": {"python": "3.14.2", "arch": "wasm32"}, "packages": {"numpy": {}}})
    )
    wheel = tmp_path / "openproctor_core-0.1.0-py3-none-any.whl"
    wheel.write_bytes(b"wheel bytes")
    lock = make_lock(stock, wheel, "0.1.0")
    assert lock["info"] == {"python": "3.14.2", "arch": "wasm32"}
    (entry,) = lock["packages"].values()
    assert entry["file_name"] == wheel.name and entry["imports"] == ["openproctor"]
    assert entry["sha256"] == hashlib.sha256(b"wheel bytes").hexdigest()


def test_precompressed_copies_decode_to_the_original(tmp_path):
    asset = tmp_path / "pyodide.asm.mjs"
    asset.write_bytes(b"export const x = 1;\n" * 500)
    sizes = precompress(asset, tmp_path / "cache")
    assert set(sizes) == {"br", "gzip"}
    assert brotli.decompress((tmp_path / "pyodide.asm.mjs.br").read_bytes()) == asset.read_bytes()
    assert gzip.decompress((tmp_path / "pyodide.asm.mjs.gz").read_bytes()) == asset.read_bytes()
    small = tmp_path / "tiny.js"
    small.write_text("1")
    assert precompress(small, tmp_path / "cache") == {}


def _fake_npm(tmp_path, monkeypatch, content: bytes):
    """npm pack that writes a tarball of our choosing (no registry is contacted)."""
    real_run = subprocess.run

    def run(command, **kwargs):
        if command[:2] == ["npm", "pack"]:
            buffer = io.BytesIO()
            with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
                info = tarfile.TarInfo("package/pyodide.mjs")
                info.size = len(content)
                archive.addfile(info, io.BytesIO(content))
            Path(command[4], "pyodide-314.0.7.tgz").write_bytes(buffer.getvalue())
            return subprocess.CompletedProcess(command, 0, "", "")
        return real_run(command, **kwargs)

    monkeypatch.setattr(fetch.subprocess, "run", run)
    monkeypatch.setattr(fetch.shutil, "which", lambda name: "/usr/bin/" + name)


def test_the_loader_is_stamped_with_the_core_version():
    source = (Path(builder.LOADER) / "loader.js").read_text(encoding="utf-8")
    stamped = builder.stamp_version(source, SDK_VERSION)
    assert builder.VERSION_MARK not in stamped
    assert f'var VERSION = "{SDK_VERSION}";' in stamped
    with pytest.raises(BuildError, match="once"):
        builder.stamp_version(source + source, SDK_VERSION)  # two marks: which is the version?


def test_the_built_loader_names_the_package_version():
    """One source: the package's version is openproctor.core's SDK_VERSION, and so is the one
    the built bundle's loader and manifest name."""
    assert version("openproctor") == SDK_VERSION
    built = Path(builder.ROOT) / "build" / "sdk"
    if not (built / "manifest.json").is_file():
        pytest.skip("no bundle in build/sdk (run ./dev demo or python build.py)")
    assert json.loads((built / "manifest.json").read_text())["sdk_version"] == SDK_VERSION
    loader = (built / "loader.js").read_text()
    assert f'"{SDK_VERSION}"' in loader and builder.VERSION_MARK not in loader


def test_a_tarball_that_is_not_the_pinned_one_is_refused(tmp_path, monkeypatch):
    _fake_npm(tmp_path, monkeypatch, b"tampered runtime")
    with pytest.raises(BuildError, match="refusing a runtime that is not the pinned one"):
        fetch.fetch_pyodide(tmp_path / "cache", log=lambda line: None)
    assert not (tmp_path / "cache" / "pyodide-314.0.7").exists()
    assert not (tmp_path / "cache" / "pyodide-314.0.7.tgz").exists()


def test_a_failed_build_leaves_the_previous_bundle_in_place(tmp_path, monkeypatch):
    out = tmp_path / "sdk"
    out.mkdir()
    (out / "manifest.json").write_text('{"previous": true}')

    def broken(stage, cache, log):
        (stage / "half-written.wasm").write_bytes(b"\0" * 10)
        raise BuildError("npm is needed")

    monkeypatch.setattr(builder, "_assemble", broken)
    with pytest.raises(BuildError):
        builder.build(out, tmp_path / "cache", log=lambda line: None)
    assert json.loads((out / "manifest.json").read_text()) == {"previous": True}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sdk"]  # no staging folder left


# -- hosting ------------------------------------------------------------------------------------


@pytest.fixture
def hosted(tmp_path):
    bundle = tmp_path / "sdk"
    (bundle / "runtime-abc").mkdir(parents=True)
    wasm = b"\0asm" + b"\1" * 5000
    (bundle / "runtime-abc" / "pyodide.asm.wasm").write_bytes(wasm)
    (bundle / "runtime-abc" / "pyodide.asm.wasm.br").write_bytes(brotli.compress(wasm))
    (bundle / "runtime-abc" / "pyodide.asm.wasm.gz").write_bytes(gzip.compress(wasm))
    (bundle / "loader.js").write_text("/* loader */")
    (bundle / "worker-abc.js").write_text("self.onmessage = () => {};")

    def entry(path, encodings=None):
        data = (bundle / path).read_bytes()
        return {
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "encodings": encodings or {},
        }

    files = {
        "runtime-abc/pyodide.asm.wasm": entry(
            "runtime-abc/pyodide.asm.wasm", {"br": 10, "gzip": 20}
        ),
        "loader.js": entry("loader.js"),
        "worker-abc.js": entry("worker-abc.js"),
    }
    (bundle / "manifest.json").write_text(json.dumps({"files": files, "assets": {}}))
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        secret_file=tmp_path / "k",
        bundle_dir=bundle,
    )
    with TestClient(create_app(settings, migrate=True, purge_every=None)) as client:
        yield client, wasm


def test_wasm_is_served_precompressed_and_immutable(hosted):
    client, wasm = hosted
    url = "/sdk/v1/runtime-abc/pyodide.asm.wasm"
    br = client.get(url, headers={"accept-encoding": "gzip, br"})
    assert br.headers["content-encoding"] == "br" and br.content == wasm  # decoded by httpx
    assert br.headers["content-type"] == "application/wasm"
    assert br.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert br.headers["vary"] == "Accept-Encoding"
    assert br.headers["access-control-allow-origin"] == "*"
    gz = client.get(url, headers={"accept-encoding": "gzip"})
    assert gz.headers["content-encoding"] == "gzip" and gz.content == wasm
    plain = client.get(url, headers={"accept-encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.content == wasm
    refused = client.get(url, headers={"accept-encoding": "br;q=0, gzip"})
    assert refused.headers["content-encoding"] == "gzip"


def test_loader_is_revalidated_with_an_etag(hosted):
    client, _ = hosted
    first = client.get("/sdk/v1/loader.js")
    assert first.headers["cache-control"] == "no-cache"
    assert first.headers["content-type"] == "text/javascript; charset=utf-8"
    again = client.get("/sdk/v1/loader.js", headers={"if-none-match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    manifest = client.get("/sdk/v1/manifest.json")
    assert manifest.headers["cache-control"] == "no-cache"


@pytest.mark.parametrize(
    "path",
    [
        "/sdk/v1/../pyproject.toml",
        "/sdk/v1/runtime-abc/missing.js",
        "/sdk/v1/manifest.json.br",
        "/sdk/v1/%2e%2e/k",
    ],
)
def test_only_manifest_files_are_served(hosted, path):
    client, _ = hosted
    response = client.get(path)
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def test_a_missing_bundle_is_a_clear_error(tmp_path):
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        secret_file=tmp_path / "k",
        bundle_dir=tmp_path / "nowhere",
    )
    with TestClient(create_app(settings, migrate=True, purge_every=None)) as client:
        response = client.get("/sdk/v1/loader.js")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "bundle_not_built"
    assert "python build.py" in response.json()["error"]["message"]
