"""Regenerate the Python stubs and the descriptor set from protos/ — the one command for codegen.

    python scripts/gen_protos.py          # rewrite gen/iot
    python scripts/gen_protos.py --check  # exit 1 if gen/iot differs from what the protos produce (CI)

Outputs under gen/iot: *_pb2.py, *_pb2.pyi, *_pb2_grpc.py, *_pb2_grpc.pyi (typed by mypy-protobuf) and
descriptors.binpb (all files with source info, read by the gateway's OpenAPI and linted by buf).
google/api/*.proto come from the installed googleapis-common-protos, never copied here.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import shutil
import sys
import tempfile
from pathlib import Path

import google.api.annotations_pb2 as google_api_annotations
import grpc_tools
from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"
OUT = ROOT / "gen"
BIN = Path(sys.executable).parent


def proto_files() -> list[str]:
    return sorted(str(p.relative_to(PROTOS)) for p in PROTOS.rglob("*.proto"))


def include_dirs() -> list[str]:
    googleapis = Path(google_api_annotations.__file__).resolve().parent.parent.parent
    well_known = Path(grpc_tools.__file__).resolve().parent / "_proto"
    return [str(PROTOS), str(googleapis), str(well_known)]


def generate(out: Path) -> None:
    files = proto_files()
    args = ["grpc_tools.protoc", *(f"-I{d}" for d in include_dirs())]
    args += [
        f"--plugin=protoc-gen-mypy={BIN / 'protoc-gen-mypy'}",
        f"--plugin=protoc-gen-mypy_grpc={BIN / 'protoc-gen-mypy_grpc'}",
        f"--python_out={out}",
        f"--mypy_out={out}",
        f"--grpc_python_out={out}",
        f"--mypy_grpc_out={out}",
        "--include_imports",
        "--include_source_info",
        f"--descriptor_set_out={out / 'iot' / 'descriptors.binpb'}",
        *files,
    ]
    (out / "iot").mkdir(parents=True, exist_ok=True)
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    for directory, _, _ in os.walk(out / "iot"):
        (Path(directory) / "__init__.py").touch()
    (out / "iot" / "py.typed").touch()


def differences(a: Path, b: Path) -> list[str]:
    diffs: list[str] = []

    def walk(cmp: filecmp.dircmp[str], prefix: str) -> None:
        diffs.extend(prefix + n for n in cmp.left_only + cmp.right_only + cmp.diff_files)
        for name, sub in cmp.subdirs.items():
            walk(sub, f"{prefix}{name}/")

    walk(filecmp.dircmp(a, b, ignore=["__pycache__"]), "")
    return diffs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="fail if the committed stubs are stale")
    check = parser.parse_args().check
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp)
        generate(fresh)
        if check:
            diffs = differences(fresh / "iot", OUT / "iot") if (OUT / "iot").exists() else ["gen/iot"]
            if diffs:
                print("stubs are stale; run `python scripts/gen_protos.py` and commit:", *diffs, sep="\n  ")
                return 1
            print(f"stubs match protos ({len(proto_files())} files)")
            return 0
        shutil.rmtree(OUT / "iot", ignore_errors=True)
        shutil.copytree(fresh / "iot", OUT / "iot")
    print(f"generated stubs for {len(proto_files())} proto files into {OUT.relative_to(ROOT)}/iot")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
