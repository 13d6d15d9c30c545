#!/usr/bin/env bash
# Host test: every C source and header is formatted by the project's .clang-format.
set -uo pipefail
src=$1
cd "$src" || exit 1
mapfile -t files < <(find . -path ./build -prune -o -path './build-*' -prune -o \
	\( -name '*.c' -o -name '*.h' \) -print | sort)
[ "${#files[@]}" -gt 0 ] || { echo "no C files found under $src"; exit 1; }
if clang-format --dry-run --Werror "${files[@]}"; then
	echo "format: ${#files[@]} files clean"
else
	echo "format: run 'clang-format -i' on the files above"
	exit 1
fi
