#!/usr/bin/env bash
# From a fresh clone: install everything, then make an ad from a sample photo into out/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
mkdir -p out
.venv/bin/nanococoa generate samples/fish.png --copy "건어물 대박 세일" --sub-copy "오늘만 30% 할인" \
  --style "전통시장 분위기" --text-style "골드 풍선" --size 4:5 --out out/ad.png
.venv/bin/nanococoa generate samples/apple.jpg --copy "꿀사과 한 박스 특가" --sub-copy "산지 직송 · 19,900원" \
  --style 미니멀 --text-style "고대비 기본" --out out/apple.png
echo "open out/ad.png and out/apple.png (reports: out/ad.json, out/apple.json)"
