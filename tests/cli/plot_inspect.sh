#!/bin/sh
# lossplug plot (a PNG of the right size with the curve drawn, clear errors,
# nothing written on failure), lossplug inspect (every entry of a real
# checkpoint, compared with an independent reading of the file; a corrupt or
# truncated copy exits 1 naming the entry and offset), cartpole-train
# --plot, and the resume summary of cartpole-train with and without -v.
# usage: plot_inspect.sh LOSSPLUG_EXE CARTPOLE_TRAIN EXAMPLES_DIR
set -u
. "$(dirname "$0")/lib.sh"
lp=$1
train=$2
examples=$3

# A PNG's signature, IHDR size, and how many pixels have the colour of the
# first curve (31, 120, 181): PNG decoded with zlib, per the PNG spec.
png_check() { # FILE WIDTH HEIGHT MIN_CURVE_PIXELS WHAT
    python3 - "$@" <<'PY' || fail "$5: $1"
import struct, sys, zlib
path, w, h, need = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
b = open(path, "rb").read()
if b[:8] != b"\x89PNG\r\n\x1a\n":
    sys.exit("not a PNG signature")
pos, idat, ihdr = 8, b"", None
while pos < len(b):
    n, kind = struct.unpack(">I4s", b[pos:pos + 8])
    data = b[pos + 8:pos + 8 + n]
    if zlib.crc32(kind + data) != struct.unpack(">I", b[pos + 8 + n:pos + 12 + n])[0]:
        sys.exit("bad chunk CRC in " + kind.decode())
    if kind == b"IHDR":
        ihdr = struct.unpack(">IIBBBBB", data)
    elif kind == b"IDAT":
        idat += data
    pos += 12 + n
W, H, depth, ctype = ihdr[0], ihdr[1], ihdr[2], ihdr[3]
if (W, H) != (w, h):
    sys.exit("size %dx%d, expected %dx%d" % (W, H, w, h))
if depth != 8 or ctype not in (2, 6):
    sys.exit("unexpected PNG format depth=%d colour type=%d" % (depth, ctype))
bpp = 3 if ctype == 2 else 4
raw = zlib.decompress(idat)
stride = W * bpp
prev = bytearray(stride)
hits = 0
for y in range(H):
    f = raw[y * (stride + 1)]
    line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for i in range(stride):
        a = line[i - bpp] if i >= bpp else 0
        up = prev[i]
        c = prev[i - bpp] if i >= bpp else 0
        if f == 1: line[i] = (line[i] + a) & 255
        elif f == 2: line[i] = (line[i] + up) & 255
        elif f == 3: line[i] = (line[i] + (a + up) // 2) & 255
        elif f == 4:
            p = a + up - c
            pa, pb, pc = abs(p - a), abs(p - up), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else up if pb <= pc else c)) & 255
    for x in range(W):
        r, g, bl = line[x * bpp:x * bpp + 3]
        if abs(r - 31) < 12 and abs(g - 120) < 12 and abs(bl - 181) < 12:
            hits += 1
    prev = line
if hits < need:
    sys.exit("only %d pixels of the curve's colour, expected >= %d" % (hits, need))
PY
}

# ---- plot ---------------------------------------------------------------
cat >"$lp_tmp/s.csv" <<'CSV'
epoch,env_steps,actor/loss,episode_return,empty
0,512,0.5,20,
1,1024,,40,
2,1536,0.25,80,
3,2048,0.125,160,
CSV
run_lp plot "$lp_tmp/s.csv" -o "$lp_tmp/a.png"
expect_rc 0 "plot a CSV"
expect_out "plot: $lp_tmp/a.png" "plot a CSV"
png_check "$lp_tmp/a.png" 960 540 300 "plot a CSV: the PNG"

printf '%s\n' '{"epoch":0,"env_steps":512,"episode_return":20,"actor/loss":0.5}' \
    '{"epoch":1,"env_steps":1024,"episode_return":40}' \
    '{"epoch":2,"env_steps":1536,"episode_return":80,"actor/loss":0.25}' >"$lp_tmp/s.jsonl"
run_lp plot "$lp_tmp/s.jsonl" --output="$lp_tmp/b.png" --y episode_return --y actor/loss
expect_rc 0 "plot a JSONL file with two --y"
png_check "$lp_tmp/b.png" 960 540 100 "plot a JSONL file: the PNG"

cp "$lp_tmp/a.png" "$lp_tmp/keep.png"
run_lp plot "$lp_tmp/s.csv" -o "$lp_tmp/keep.png" --y nope
expect_rc 1 "plot an unknown column"
expect_err "lossplug: error: $lp_tmp/s.csv: no column 'nope'; its columns are: epoch, env_steps, actor/loss, episode_return, empty" "plot an unknown column"
cmp -s "$lp_tmp/a.png" "$lp_tmp/keep.png" || fail "a failed plot changed the existing PNG"
[ -z "$(ls "$lp_tmp" | grep '\.tmp')" ] || fail "a failed plot left a temporary file"

run_lp plot "$lp_tmp/s.csv" -o "$lp_tmp/c.png" --y empty
expect_rc 1 "plot a column with no value"
expect_err "column 'empty' has no value on any of its 4 lines" "plot a column with no value"
[ ! -e "$lp_tmp/c.png" ] || fail "a failed plot wrote a PNG"

run_lp plot "$lp_tmp/missing.csv" -o "$lp_tmp/c.png"
expect_rc 1 "plot a missing file"
expect_err "$lp_tmp/missing.csv: cannot read the stats file: No such file or directory" "plot a missing file"

printf 'epoch,env_steps\n0,512,9\n' >"$lp_tmp/bad.csv"
run_lp plot "$lp_tmp/bad.csv" -o "$lp_tmp/c.png"
expect_rc 1 "plot a CSV with a bad line"
expect_err "$lp_tmp/bad.csv:2: 3 cells, but the header has 2 columns" "plot a CSV with a bad line"

run_lp plot "$lp_tmp/s.csv"
expect_rc 2 "plot without -o"
expect_err "plot needs the PNG to write" "plot without -o"

# ---- cartpole-train --plot, a checkpoint, resume -------------------------
run "$train" "$examples/ppo.yaml" --max-steps 2048 --quiet --stats "$lp_tmp/run.csv" \
    --checkpoint "$lp_tmp/run.ckpt" --plot "$lp_tmp/run.png"
expect_rc 0 "cartpole-train --plot"
expect_out "plot: $lp_tmp/run.png" "cartpole-train --plot"
png_check "$lp_tmp/run.png" 960 540 300 "cartpole-train --plot: the PNG"
run "$train" "$examples/ppo.yaml" --max-steps 1024 --quiet --plot "$lp_tmp/run2.png"
expect_rc 0 "cartpole-train --plot without --stats"
png_check "$lp_tmp/run2.png" 960 540 50 "cartpole-train --plot without --stats"

run "$train" "$examples/ppo.yaml" --max-steps 3072 --resume "$lp_tmp/run.ckpt"
expect_rc 0 "resume"
expect_err "resumed from $lp_tmp/run.ckpt at epoch 4, 2048 env steps: 23 restored (host/epoch, host/env_steps, model/actor/0/w, ... 20 more; -v lists all), 0 missing" "resume: the summary"
run "$train" "$examples/ppo.yaml" --max-steps 3072 --resume "$lp_tmp/run.ckpt" -v
expect_rc 0 "resume -v"
expect_err "env/snapshot)" "resume -v names every entry"
grep -q "more; -v lists all" "$err" && fail "resume -v still abbreviates"
expect_err "cartpole-train: debug: " "-v shows the host's and plugins' messages"
expect_err "/ppo.so: 1 of 1 losses loaded" "-v shows the host's and plugins' messages"

# ---- inspect ------------------------------------------------------------
run_lp inspect "$lp_tmp/run.ckpt"
expect_rc 0 "inspect a real checkpoint"
expect_out "format: version 1, 24 entries" "inspect"
# ppo.yaml's instances and the plugins they came from (the entry host/meta/plugins).
expect_out "loss instances: gae (plugin gae 1.0.0), actor (plugin ppo 1.0.0), critic (plugin value 1.0.0)" "inspect names the plugins"
expect_out "taken: after epoch 4, 2048 env steps" "inspect"
grep -qE '^  model/actor/0/w +f32 +\[64, 4\] +1024 +[0-9]+ +ok$' "$out" || { fail "inspect: the model/actor/0/w row"; show_last; }
run_lp inspect --json "$lp_tmp/run.ckpt"
expect_rc 0 "inspect --json"
cp "$out" "$lp_tmp/inspect.json"
# Every entry, compared with a reading of the file by docs/checkpoint.md.
python3 - "$lp_tmp/run.ckpt" "$lp_tmp/inspect.json" <<'PY' || fail "inspect --json differs from the file"
import json, struct, sys, zlib
b = open(sys.argv[1], "rb").read()
d = json.load(open(sys.argv[2]))
count = struct.unpack("<Q", b[16:24])[0]
pos, want = 28, []
names = {1: "f32", 2: "f64", 3: "i32", 4: "i64", 5: "u8"}
for _ in range(count):
    start = pos
    n = struct.unpack("<H", b[pos:pos + 2])[0]
    name = b[pos + 2:pos + 2 + n].decode()
    dtype, rank = b[pos + 2 + n], b[pos + 3 + n]
    shape = list(struct.unpack("<%dQ" % rank, b[pos + 4 + n:pos + 4 + n + 8 * rank]))
    nb = struct.unpack("<Q", b[pos + 4 + n + 8 * rank:pos + 12 + n + 8 * rank])[0]
    end = pos + 12 + n + 8 * rank + nb
    assert zlib.crc32(b[start:end]) == struct.unpack("<I", b[end:end + 4])[0]
    want.append({"name": name, "dtype": names[dtype], "shape": shape, "bytes": nb,
                 "offset": start, "crc_ok": True})
    pos = end + 4
got = d["entries"]
if got != want:
    sys.exit("entries differ:\n%s\n%s" % (got, want))
meta = [e for e in want if e["name"] == "host/meta/plugins"][0]
text = b[meta["offset"] + 2 + len("host/meta/plugins") + 2 + 8 + 8:][:meta["bytes"]].decode()
lines = [l.split(" ") for l in text.splitlines()]
if d["instances"] != [{"name": a, "plugin": p, "version": v} for a, p, v in lines] or \
        [(a, p) for a, p, _ in lines] != [("gae", "gae"), ("actor", "ppo"), ("critic", "value")]:
    sys.exit("instances differ: %s against %s" % (d["instances"], lines))
epoch = [e for e in want if e["name"] == "host/epoch"][0]
if d["epoch"] != struct.unpack("<q", b[epoch["offset"] + 2 + 10 + 2 + 8:][:8])[0]:
    sys.exit("epoch differs")
PY

# A damaged copy: one byte of model/actor/0/w's data flipped.
off=$(python3 -c 'import json,sys; print([e["offset"] for e in json.load(open(sys.argv[1]))["entries"] if e["name"] == "model/actor/0/w"][0])' "$lp_tmp/inspect.json")
python3 - "$lp_tmp/run.ckpt" "$lp_tmp/bad.ckpt" "$((off + 60))" <<'PY'
import sys
b = bytearray(open(sys.argv[1], "rb").read())
b[int(sys.argv[3])] ^= 0x55
open(sys.argv[2], "wb").write(b)
PY
run_lp inspect "$lp_tmp/bad.ckpt"
expect_rc 1 "inspect a corrupt checkpoint"
expect_err "entry 2 at offset $off: CRC32 mismatch" "inspect a corrupt checkpoint"
expect_err "(entry 'model/actor/0/w', as stored)" "inspect a corrupt checkpoint names the entry"
off=$(python3 -c 'import json,sys; print([e["offset"] for e in json.load(open(sys.argv[1]))["entries"] if e["name"] == "optimizer/v"][0])' "$lp_tmp/inspect.json")
head -c "$((off + 100))" "$lp_tmp/run.ckpt" >"$lp_tmp/cut.ckpt"
run_lp inspect "$lp_tmp/cut.ckpt"
expect_rc 1 "inspect a truncated checkpoint"
expect_err "is truncated or corrupt: entry 15 at offset $off: its data needs" "inspect a truncated checkpoint"
expect_err "(entry 'optimizer/v')" "inspect a truncated checkpoint names the entry"
run_lp inspect "$lp_tmp/none.ckpt"
expect_rc 1 "inspect a missing file"
finish
