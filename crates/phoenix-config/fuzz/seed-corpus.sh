#!/bin/sh
# Seeds fuzz/corpus/<target>/ from the repository's configs (fixtures, etc/, bad configs).
# Run from anywhere; the corpus itself is not committed (see .gitignore).
set -eu
fuzz=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$fuzz/../../.." && pwd)
mkdir -p "$fuzz/corpus/parse_str" "$fuzz/corpus/load"
cp "$fuzz"/seeds/parse_str/* "$fuzz/corpus/parse_str/"
cp "$fuzz"/seeds/load/* "$fuzz/corpus/load/"

# parse_str: every JSON file on its own.
n=0
for f in "$root"/tests/fixtures/upstream-2025-10-01/*.json "$root"/etc/*.json \
         "$root"/tests/bad_configs/*/*.json; do
    [ -f "$f" ] || continue
    n=$((n + 1))
    cp "$f" "$fuzz/corpus/parse_str/seed-$n.json"
done

# load: hypervisor NUL lxc NUL vm, for each folder holding the three files.
n=0
for d in "$root"/tests/fixtures/upstream-2025-10-01 "$root"/etc "$root"/tests/bad_configs/*; do
    [ -f "$d/phoenix_hypervisor_config.json" ] || continue
    n=$((n + 1))
    out="$fuzz/corpus/load/seed-$n"
    cat "$d/phoenix_hypervisor_config.json" > "$out"
    printf '\000' >> "$out"
    [ -f "$d/phoenix_lxc_configs.json" ] && cat "$d/phoenix_lxc_configs.json" >> "$out"
    printf '\000' >> "$out"
    [ -f "$d/phoenix_vm_configs.json" ] && cat "$d/phoenix_vm_configs.json" >> "$out"
done
echo "seeded: $(ls "$fuzz/corpus/parse_str" | wc -l) parse_str, $(ls "$fuzz/corpus/load" | wc -l) load"
