#!/usr/bin/env python3
"""TFLite Micro's outputs for a batch of inputs: the reference `hone run` must equal bit for bit.

Usage: tflm-reference.py MODEL.tflite --input X.npy --out DIR

X.npy holds a batch (first axis) of samples in the model's input dtype; each sample holds the
input's elements (C order). Output K is written to DIR/output_K.npy: the batch first, then the
output's shape without its leading batch dimension of 1 (as `hone run` writes it).

The script runs itself in a virtual environment under ${HONE_CACHE:-$HOME/.cache/hone}/tflm-venv,
created on first use with PyPI's `tflite-micro` (the TFLM interpreter with its reference
kernels) and numpy. Exit status 3 means that environment could not be made (PyPI unreachable):
callers may skip; any other failure is 1.
"""

import argparse
import os
import subprocess
import sys
from pathlib import Path

# Pinned so that every run compares against the same kernels; override to try another.
TFLM_VERSION = os.environ.get("HONE_TFLM_VERSION", "0.dev20261023182759")
UNAVAILABLE = 3


def venv_dir() -> Path:
    cache = os.environ.get("HONE_CACHE") or os.path.join(Path.home(), ".cache", "hone")
    return Path(cache) / "tflm-venv"


def ensure_venv() -> None:
    """Re-executes this script inside the venv, creating it first if needed."""
    venv = venv_dir()
    python = venv / "bin" / "python"
    if Path(sys.prefix).resolve() == venv.resolve():
        return
    stamp = venv / f".tflite-micro-{TFLM_VERSION}"
    if not stamp.exists():
        print(f"tflm-reference: setting up {venv} (tflite-micro {TFLM_VERSION})", file=sys.stderr)
        try:
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            subprocess.run(
                [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                 f"tflite-micro=={TFLM_VERSION}", "numpy"],
                check=True,
            )
        except (subprocess.CalledProcessError, OSError) as e:
            print(f"tflm-reference: cannot install tflite-micro: {e}", file=sys.stderr)
            sys.exit(UNAVAILABLE)
        stamp.touch()
    os.execv(str(python), [str(python), __file__, *sys.argv[1:]])


def count_outputs(interp) -> int:
    """Outputs of the model: the wrapper raises (and prints to stderr) past the last one."""
    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    try:
        n = 0
        while True:
            try:
                interp.get_output_details(n)
            except Exception:
                return n
            n += 1
    finally:
        os.dup2(saved, 2)
        os.close(null)
        os.close(saved)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", type=Path)
    ap.add_argument("--input", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    ensure_venv()

    import numpy as np
    from tflite_micro.python.tflite_micro import runtime

    interp = runtime.Interpreter.from_file(str(args.model))
    details = interp.get_input_details(0)
    shape, dtype = tuple(details["shape"]), details["dtype"]
    x = np.load(args.input)
    if x.dtype != dtype:
        sys.exit(f"tflm-reference: {args.input} is {x.dtype}, the model's input is {dtype}")
    per = int(np.prod(shape))
    if x.ndim < 1 or int(np.prod(x.shape[1:])) != per:
        sys.exit(f"tflm-reference: samples of {x.shape[1:]} do not fill the input {shape}")
    n_out = count_outputs(interp)
    outputs = [[] for _ in range(n_out)]
    for sample in x.reshape(x.shape[0], per):
        # TFLM's planner may reuse the input's memory: set the input before every invoke.
        interp.set_input(sample.reshape(shape), 0)
        interp.invoke()
        for k in range(n_out):
            outputs[k].append(np.array(interp.get_output(k), copy=True))
    args.out.mkdir(parents=True, exist_ok=True)
    for k, ys in enumerate(outputs):
        out_shape = list(interp.get_output_details(k)["shape"])
        if out_shape and out_shape[0] == 1:
            out_shape = out_shape[1:]
        y = np.stack(ys).reshape([x.shape[0], *out_shape]) if ys else np.zeros([0, *out_shape])
        np.save(args.out / f"output_{k}.npy", y)
        print(f"{args.out / f'output_{k}.npy'}: {list(y.shape)}")


if __name__ == "__main__":
    main()
