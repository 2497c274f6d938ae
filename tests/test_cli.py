import subprocess
import sys


def _run(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "fastnn", *args], capture_output=True, text=True, timeout=timeout)


def test_validate_passes_and_prints_the_table():
    proc = _run("validate", "--cases", "3")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "conv2d_backward" in proc.stdout and "float32" in proc.stdout and "FAIL" not in proc.stdout
    assert "0 failed" in proc.stdout


def test_validate_unknown_kernel_is_a_clear_error():
    proc = _run("validate", "--kernel", "nope")
    assert proc.returncode == 2
    assert "unknown kernel" in proc.stderr and "Traceback" not in proc.stderr
