import subprocess
import sys


def test_cuda_without_gpu_gives_a_clear_error():
    code = ("from atlas.backend import get_backend, BackendError\n"
            "try:\n    get_backend('cuda')\nexcept BackendError as e:\n    print('ERR', e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"NUMBA_ENABLE_CUDASIM": "0", "PATH": "/usr/bin:/bin"}, timeout=120)
    assert "ERR device 'cuda'" in out.stdout, out.stdout + out.stderr
    assert "device='cpu'" in out.stdout
