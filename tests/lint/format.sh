#!/usr/bin/env bash
# Every C file of the project is clang-format clean (the root .clang-format); `make format`
# rewrites them. TAP: one line for the whole tree, the unclean files listed under it.
set -uo pipefail
cd "$(dirname "$0")/../.."
mapfile -t files < <(git ls-files --cached --others --exclude-standard '*.c' '*.h' 2>/dev/null || find lib include imager installer tests pkgs -name '*.[ch]')
bad=()
for f in "${files[@]}"; do
	[ -f "$f" ] || continue
	clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
if [ ${#bad[@]} -eq 0 ]; then
	echo "ok - clang-format clean (${#files[@]} files)"
else
	echo "not ok - clang-format clean: ${#bad[@]} of ${#files[@]} files need 'make format'"
	printf '#   %s\n' "${bad[@]}"
	exit 1
fi
