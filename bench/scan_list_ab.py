#!/usr/bin/env python3
"""`lossplug list` over the 7 built-in plugins and 13 loadable fixtures (plus
the build's other plugins), two builds A/B alternated in one run (no
hyperfine needed): cached (the scan cache warm), --no-scan, and cold (the
cache removed first). Each build has its own cache directory.
usage: bench/scan_list_ab.py RUNS BUILD_A BUILD_B   (docs/performance.md)"""
import os, subprocess, sys, time, shutil, statistics, tempfile
builds = {'A': sys.argv[2], 'B': sys.argv[3]}
d = tempfile.mkdtemp(prefix='lp-i10-bench.')
os.chmod(d, 0o755)
pl = os.path.join(d, 'plugins'); os.mkdir(pl)
src = builds['B']
for f in os.listdir(src + '/plugins'):
    if f.endswith('.so'): shutil.copy(src + '/plugins/' + f, pl)
for c in 'good c1_summary hygiene huge_stride small_struct bad_field bad_param null_desc missing_field bad_id newer_minor null_create init_fails'.split():
    shutil.copy(f'{src}/fixtures/{c}/{c}.so', pl)
os.chmod(pl, 0o755)
for f in os.listdir(pl): os.chmod(os.path.join(pl, f), 0o644)
def run(b, extra=()):
    env = dict(os.environ, XDG_CACHE_HOME=d + '/cache-' + b)
    env.pop('LOSSPLUG_PATH', None)
    t = time.perf_counter()
    subprocess.run([builds[b] + '/bin/lossplug', *extra, '--no-default-paths', '--plugin-path', pl, 'list'], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t
print(len(os.listdir(pl)), 'plugins')
for b in builds: run(b); run(b)  # warm caches
R = int(sys.argv[1]) if len(sys.argv) > 1 else 30
res = {b + ' ' + k: [] for k in ['cached', 'no-scan', 'cold'] for b in builds}
for i in range(R):
    for b in builds:
        res[b + ' cached'].append(run(b))
        res[b + ' no-scan'].append(run(b, ['--no-scan']))
        shutil.rmtree(d + '/cache-' + b, ignore_errors=True)
        res[b + ' cold'].append(run(b))
        run(b)  # re-warm
for k, v in res.items():
    print(f'{k:14s} median {statistics.median(v)*1000:7.1f} ms  mean {statistics.mean(v)*1000:7.1f}  min {min(v)*1000:6.1f}')
shutil.rmtree(d)
