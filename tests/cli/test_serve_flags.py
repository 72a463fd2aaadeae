"""``specprompt serve`` refuses bad option values by their flags, not by ServeConfig's field names."""

from __future__ import annotations

import pytest

from specprompt.cli import main


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--threads", "0"], "argument --threads: expected an int >= 1, got '0'"),
        (["--threads", "-1"], "argument --threads: expected an int >= 1, got '-1'"),
        (["--workers", "0"], "argument --workers: expected an int >= 1, got '0'"),
        (["--max-images", "0"], "argument --max-images: expected an int >= 1, got '0'"),
        (["--max-request-bytes", "-5"], "argument --max-request-bytes: expected an int >= 1, got '-5'"),
        (["--remote-timeout", "0"], "argument --remote-timeout: expected a number > 0, got '0'"),
        (["--port", "70000"], "argument --port: expected a port from 0 to 65535, got '70000'"),
        (["--port", "http"], "argument --port: expected a port from 0 to 65535, got 'http'"),
        (["--host", " "], "argument --host: expected a non-empty value"),
        (["--api-key", ""], "argument --api-key: expected a non-empty value"),
    ],
)
def test_bad_serve_options_name_the_flag(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str], recwarn: pytest.WarningsRecorder
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["serve", *argv])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f"specprompt serve: error: {message}" in err, err
    assert "workers must" not in err and "max_images" not in err


def test_an_address_the_server_cannot_listen_on_is_named(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["serve", "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert f"cannot listen on --host '127.0.0.1' --port {port}" in err and "pass another --port" in err

    def no_such_host(*args: object, **kwargs: object) -> object:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_host)
    assert main(["serve", "--host", "nosuchhost.invalid", "--api-key", "k"]) == 2
    assert "--host 'nosuchhost.invalid' does not resolve to an address to listen on" in capsys.readouterr().err
