"""``main.py console`` as an office runs it, as a subprocess: the console alone, on its port,
a terminal staff member signing in through the link it prints, and a clean stop."""

import asyncio
import re
import signal
import socket
import sys

import httpx

from tests.test_e2e import ROOT, environment, run_main


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def line_with(stream: asyncio.StreamReader, pattern: str, timeout: float = 60.0) -> str:  # noqa: ASYNC109
    async with asyncio.timeout(timeout):
        while True:
            line = (await stream.readline()).decode()
            if not line:
                raise AssertionError(f"the console ended before printing {pattern!r}")
            if re.search(pattern, line):
                return line


async def test_the_console_alone_signs_in_the_terminal_staff_member(tmp_path):
    port = free_port()
    env = environment(DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/lindungi.db",
                      STORAGE_DIR=str(tmp_path / "files"), HOST="127.0.0.1", PORT=str(port))
    added = run_main("staff", "add", "--terminal", "--role", "admin", "--name", "Rina",
                     env=env)
    assert added.returncode == 0, added.stderr
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "main.py", "console", cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        started = await line_with(proc.stdout, "staff console is at")
        assert f"http://127.0.0.1:{port}/console/" in started
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base) as browser:
            asked = await browser.post("/console/signin", data={"account": "terminal"})
            assert asked.status_code == 200
            link = re.search(r"(http://\S+/console/link/\S+)",
                             await line_with(proc.stdout, "/console/link/")).group(1)
            page = await browser.get(link.removeprefix(base))
            assert page.status_code == 200 and "Rina" in page.text
            entered = await browser.post("/console/link",
                                         data={"token": link.rsplit("/", 1)[1]})
            assert entered.status_code == 303 and "lindungi_console=" in \
                entered.headers["set-cookie"]
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
