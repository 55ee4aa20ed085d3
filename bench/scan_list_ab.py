#!/usr/bin/env python3
"""`lossplug list` over the 7 built-in plugins and 13 loadable fixtures (plus
the build's other plugins), two builds A/B alternated in one run (no
hyperfine needed): cached (the scan cache warm), --no-scan, and cold (the
cache removed first). Each build has its own cache directory.
usage: bench/scan_list_ab.py RUNS BUILD_A BUILD_B   (docs/performance.md)

With --session, a session open (bin/session_open: lp_session_open + close
of a config naming gae, ppo and value, in a fresh process) over the same
directory, one build, alternated: the default scan (LP_SCAN_AUTO) on a cold
and on a warm cache, and LP_SCAN_OFF (no scanner) on a cold and a warm one.
usage: bench/scan_list_ab.py --session RUNS BUILD"""
import os, subprocess, sys, time, shutil, statistics, tempfile

def plugin_dir(d, src):
    pl = os.path.join(d, 'plugins'); os.mkdir(pl)
    for f in os.listdir(src + '/plugins'):
        if f.endswith('.so'): shutil.copy(src + '/plugins/' + f, pl)
    for c in 'good c1_summary hygiene huge_stride small_struct bad_field bad_param null_desc missing_field bad_id newer_minor null_create init_fails'.split():
        shutil.copy(f'{src}/fixtures/{c}/{c}.so', pl)
    os.chmod(pl, 0o755)
    for f in os.listdir(pl): os.chmod(os.path.join(pl, f), 0o644)
    return pl

CONFIG = """buffer: {segments: 8, horizon: 128, minibatch_segments: 2, update_epochs: 4, seed: 1}
program:
  observation: {dtype: f32, shape: [4]}
  action: {dtype: i32, shape: [], num_actions: 2}
  fields: {obs: "f32[OBS]", actions: i32, logprobs: f32, values: f32, rewards: f32, dones: u8, next_values: f32}
  outputs: {logits: "f32[NUM_ACTIONS]", values: f32}
losses:
  - {name: adv, plugin: gae}
  - {name: actor, plugin: ppo}
  - {name: critic, plugin: value, weight: 0.5}
"""

def session_bench(R, build):
    d = tempfile.mkdtemp(prefix='lp-session-bench.')
    os.chmod(d, 0o755)
    pl = plugin_dir(d, build)
    cfg = os.path.join(d, 'run.yaml')
    with open(cfg, 'w') as f: f.write(CONFIG)
    cache = d + '/cache'
    env = dict(os.environ, XDG_CACHE_HOME=cache)
    env.pop('LOSSPLUG_PATH', None)
    def run(mode):
        t = time.perf_counter()
        p = subprocess.run([build + '/bin/session_open', pl, cfg, mode], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, check=True)
        return float(p.stdout) / 1000, time.perf_counter() - t
    print(len(os.listdir(pl)), 'plugins; session_open of gae, ppo, value')
    run('auto'); run('auto')
    res = {k: [] for k in ['auto cold', 'auto cached', 'off cold', 'off cached']}
    for i in range(R):
        for mode in ['auto', 'off']:
            shutil.rmtree(cache, ignore_errors=True)
            res[mode + ' cold'].append(run(mode))
            run('auto')  # warm: the scan's reports cached
            res[mode + ' cached'].append(run(mode))
    for k, v in res.items():
        o = [x[0] for x in v]; w = [x[1] for x in v]
        print(f'{k:12s} open median {statistics.median(o)*1000:7.1f} ms  min {min(o)*1000:6.1f}'
              f'   process median {statistics.median(w)*1000:7.1f} ms')
    shutil.rmtree(d)

if sys.argv[1] == '--session':
    session_bench(int(sys.argv[2]), sys.argv[3])
    sys.exit(0)

builds = {'A': sys.argv[2], 'B': sys.argv[3]}
d = tempfile.mkdtemp(prefix='lp-i10-bench.')
os.chmod(d, 0o755)
pl = plugin_dir(d, builds['B'])
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
