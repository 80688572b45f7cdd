"""How bench/train_step_torch.py and bench/sample_torch.py run PyTorch: --mode eager (float32, the default),
bf16 (bfloat16 autocast with channels_last weights and inputs) or compile (torch.compile of the model, float32).
A mode this PyTorch or device cannot run ends the script with one clear line and exit code 2."""
import contextlib
import os
import sys
import time

import torch

MODES = ("eager", "bf16", "compile")


def fail(msg):
    print(f"{sys.argv[0]}: error: {msg}", file=sys.stderr, flush=True)
    sys.exit(2)


def add_common_args(ap):
    """The arguments both peer scripts take: presets, --device, --threads, --mode."""
    ap.add_argument("presets", nargs="*", default=["tiny", "small"])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--mode", default="eager", help="eager (float32), bf16 (autocast, channels_last) or compile")


def device_for(args):
    """Sets the thread count, checks the mode and returns the torch.device of parsed common args."""
    torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    check_mode(args.mode, dev)
    return dev


def sync(dev):
    """Waits for the device before a host clock is read."""
    if dev.type == "cuda":
        torch.cuda.synchronize()


def check_mode(mode, dev):
    """Fails clearly where `mode` cannot run with this PyTorch on `dev`."""
    if mode not in MODES:
        fail(f"--mode is '{mode}', expected one of {', '.join(MODES)}")
    if mode == "bf16":
        if not hasattr(torch, "autocast"):
            fail(f"--mode bf16 needs torch.autocast (PyTorch >= 1.10; this is {torch.__version__})")
        if dev.type == "cuda" and not torch.cuda.is_bf16_supported():
            fail(f"--mode bf16: {torch.cuda.get_device_name(dev)} does not support bfloat16")
    if mode == "compile" and not hasattr(torch, "compile"):
        fail(f"--mode compile needs torch.compile (PyTorch >= 2.0; this is {torch.__version__})")


def prepare_model(model, mode):
    """The module to call: channels_last for bf16, torch.compile'd for compile, as is for eager."""
    if mode == "bf16":
        return model.to(memory_format=torch.channels_last)
    if mode == "compile":
        return torch.compile(model)
    return model


def prepare_input(x, mode):
    return x.contiguous(memory_format=torch.channels_last) if mode == "bf16" else x


def autocast(mode, dev):
    """The context the forward (and the loss) runs in."""
    if mode == "bf16":
        return torch.autocast(device_type=dev.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


class WarmupTimer:
    """Times the warm-up (where torch.compile compiles) and reports it on stderr."""

    def __init__(self, what, mode):
        self.what, self.mode = what, mode

    def __enter__(self):
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        if exc[0] is None and self.mode == "compile":
            print(f"{self.what}: compiled and warmed up in {time.perf_counter() - self.t0:.1f} s",
                  file=sys.stderr, flush=True)
        return False


@contextlib.contextmanager
def failing_clearly(mode, dev):
    """bf16 and compile depend on the PyTorch version and the device (e.g. CPU autocast in PyTorch 1.13 does not
    cover group_norm): an error there ends the script with one line naming the mode, not a traceback."""
    try:
        yield
    except Exception as e:  # noqa: BLE001 (eager errors are bugs and keep their traceback)
        if mode == "eager":
            raise
        first = (str(e).strip().splitlines() or [""])[0]
        fail(f"--mode {mode} does not run on {dev} with PyTorch {torch.__version__}: {type(e).__name__}: {first}")
