#!/usr/bin/env bash
# The wheels a GPU node needs for `bench/gpu.py` (and the rest of the project's CPU-only imports), for
# CPython 3.12 on manylinux x86_64, into one folder (default .whl/, gitignored; ≤ 64 MiB so it can travel).
#
#     bash bench/gpu_wheels.sh [DIR]        # or: make gpu-wheels
#
# The GPU image already has torch, transformers, accelerate, numpy, packaging, psutil, py-cpuinfo, msgpack,
# ninja, einops, tqdm, pyyaml, protobuf, requests, click, httpx, anyio, xxhash, … (the device's package list);
# only what it lacks is brought. Every wheel is downloaded with --no-deps: the lists below ARE the dependency
# closure (read off each wheel's Requires-Dist against that package list). Versions are the ones the project's
# venv is verified with (ENV.md). On the GPU node:
#
#     python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site DIR/*.whl
#     export PYTHONPATH=/tmp/site:$PWD
#
# or let `bench/gpu.py --wheels DIR` do it.
set -euo pipefail
DIR=${1:-.whl}
PIP=${PIP:-python3 -m pip}
mkdir -p "$DIR"

# DeepSpeed and its missing needs (hjson, pydantic: pydantic-core is compiled, hence the cp312 wheel).
DEEPSPEED=(hjson==3.1.0 pydantic==2.14.4 pydantic-core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5
           typing-extensions==4.16.0)
# The project's own imports on the check's path (agemem.rl → agemem.memory imports bm25s).
PROJECT=(bm25s==0.3.16)
# Hydra (the project's config system); antlr4-python3-runtime 4.9.3 is an sdist only, built below.
HYDRA=(hydra-core==1.3.8 omegaconf==2.3.1)
# wandb (the project's logger backend) and its OpenTelemetry/cwevals needs.
WANDB=(wandb==0.31.0 cwevals==0.0.1b1 distro==1.9.0 sniffio==1.3.1 opentelemetry-api==1.45.2
       opentelemetry-sdk==1.45.2 opentelemetry-semantic-conventions==0.66b2 opentelemetry-proto==1.45.2
       opentelemetry-exporter-otlp-proto-http==1.45.2 opentelemetry-exporter-otlp-proto-common==1.45.2
       opentelemetry-exporter-http-transport==0.66b2 opentelemetry-exporter-otlp-common==0.66b2
       googleapis-common-protos==1.76.0 platformdirs==4.14.9)

$PIP download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux1_x86_64 --platform manylinux_2_5_x86_64 \
    -d "$DIR" "${PROJECT[@]}" "${DEEPSPEED[@]}" "${HYDRA[@]}" "${WANDB[@]}"
# Pure-Python sdists: build their wheels here (deepspeed's ops JIT-compile on first use; no flags needed).
$PIP wheel -q --no-deps -w "$DIR" deepspeed==0.19.8 antlr4-python3-runtime==4.9.3

ls -l "$DIR"
du -sh "$DIR"
total=$(du -sb "$DIR" | cut -f1)
if [ "$total" -gt $((64 * 1024 * 1024)) ]; then
    echo "error: $DIR holds $total bytes, over the 64 MiB a device call can carry" >&2
    exit 1
fi
