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
