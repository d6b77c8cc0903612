#!/usr/bin/env python3
"""basegate benchmark: wall time, CPU time, peak memory and MB/s on the shared corpus,
against the read+parse floor, and against Checkov when it is installed.

    bench/run.sh                  # everything
    bench/run.sh --quick          # fewer repetitions
Numbers are the median of N runs; memory is the peak resident set of the process. A scan and
what it is compared with (the floor; the corpus twice over) are run in turn, so that a slow
spell of the machine weighs on both.
"""
import os, shutil, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("BASEGATE_SHARED", os.path.join(ROOT, "..", "shared"))
CORPUS = os.path.join(SHARED, "corpus")
BIN = os.path.join(ROOT, "target", "release", "basegate")
FLOOR = os.path.join(ROOT, "target", "release", "examples", "floor")
REPS = 3 if "--quick" in sys.argv else 5

SETS = {
    "arm": [os.path.join(CORPUS, "quickstart-templates"), os.path.join(CORPUS, "resource-modules")],
    "bicep": [os.path.join(CORPUS, "quickstart-templates"), os.path.join(CORPUS, "resource-modules")],
    "terraform": [os.path.join(CORPUS, d) for d in ("tf-azurerm-examples", "tf-avm-storageaccount", "tf-avm-aks", "tf-avm-web-site")],
}
EXT = {"arm": (".json",), "bicep": (".bicep", ".bicepparam"), "terraform": (".tf", ".tfvars")}


def run(cmd):
    """Runs cmd; returns (wall s, cpu s, peak RSS MB)."""
    start = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - start
    return wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024


def summarize(runs):
    return (statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs), max(r[2] for r in runs))


def measure(cmd, reps=REPS):
    return summarize([run(cmd) for _ in range(reps)])


def measure_pair(a, b, reps=REPS):
    """Runs a and b in turn, reps times each: a machine that slows down for a while (shared
    hosts do) slows both alike, so their ratio holds better than with all of a, then all of b."""
    runs = [(run(a), run(b)) for _ in range(reps)]
    return summarize([r[0] for r in runs]), summarize([r[1] for r in runs])


def size_mb(paths, exts):
    total = 0
    for p in paths:
        for d, _, files in os.walk(p):
            if "/.git" in d or "/.terraform" in d:
                continue
            total += sum(os.path.getsize(os.path.join(d, f)) for f in files if f.endswith(exts))
    return total / 1e6


def stage(lang, paths, tmp):
    """A copy of the corpus with only this language's files, so each set is measured alone."""
    dst = os.path.join(tmp, lang)
    for p in paths:
        for d, _, files in os.walk(p):
            for f in files:
                if f.endswith(EXT[lang]):
                    rel = os.path.relpath(os.path.join(d, f), CORPUS)
                    os.makedirs(os.path.join(dst, os.path.dirname(rel)), exist_ok=True)
                    shutil.copyfile(os.path.join(d, f), os.path.join(dst, rel))
    return dst


def main():
    subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "basegate", "--example", "floor"], cwd=ROOT, check=True)
    checkov = shutil.which("checkov")
    print(f"machine: {os.cpu_count()} cores; median of {REPS} runs; checkov: {'yes' if checkov else 'not installed'}")
    print(f"{'set':<12}{'MB':>7}{'wall s':>9}{'cpu s':>8}{'RSS MB':>8}{'MB/s':>8}{'floor s':>9}{'x floor':>8}{'checkov s':>11}{'x faster':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        staged = {lang: stage(lang, paths, tmp) for lang, paths in SETS.items()}
        all_dir = os.path.join(tmp, "all")
        os.makedirs(all_dir)
        for lang, d in staged.items():
            os.symlink(d, os.path.join(all_dir, lang))
        rows = list(staged.items()) + [("all", all_dir)]
        for name, d in rows:
            mb = size_mb([d] if name != "all" else list(staged.values()), sum(EXT.values(), ()))
            paths = [d] if name != "all" else list(staged.values())
            (wall, cpu, rss), (fwall, _, _) = measure_pair(
                [BIN, "scan", *paths, "--format", "json", "--output", os.devnull], [FLOOR, *paths]
            )
            line = f"{name:<12}{mb:>7.1f}{wall:>9.3f}{cpu:>8.3f}{rss:>8.0f}{mb / wall:>8.1f}{fwall:>9.3f}{wall / fwall:>8.1f}"
            # Checkov on "all" would only repeat the three sets (and it does not follow the
            # symlinks "all" is made of): compare per language.
            if checkov and name != "all":
                cwall, _, crss = measure([checkov, "-d", d, "--quiet", "--compact", "-o", "json"], reps=1)
                line += f"{cwall:>11.1f}{cwall / wall:>9.0f}  (checkov RSS {crss:.0f} MB, ours {100 * rss / crss:.1f}%)"
            print(line, flush=True)
        # Linearity: the whole corpus twice over should take at most 2.2x as long.
        twice = os.path.join(tmp, "twice")
        os.makedirs(twice)
        # Real copies: basegate does not follow symlinks (by design), so a symlinked copy
        # would not be scanned at all.
        for copy in ("a", "b"):
            for lang, d in staged.items():
                shutil.copytree(d, os.path.join(twice, copy, lang))
        (one, _, _), (two, _, _) = measure_pair(
            [BIN, "scan", *staged.values(), "--format", "json", "--output", os.devnull],
            [BIN, "scan", twice, "--format", "json", "--output", os.devnull],
        )
        print(f"linearity: corpus x1 {one:.3f}s, x2 {two:.3f}s, ratio {two / one:.2f} (target <= 2.2)")
    single = os.path.join(CORPUS, "quickstart-templates", "quickstarts", "microsoft.storage", "storage-account-create", "azuredeploy.json")
    if os.path.exists(single):
        wall, cpu, rss = measure([BIN, "scan", single, "--format", "json", "--output", os.devnull], reps=20)
        line = f"single file: {wall * 1000:.1f} ms wall, {rss:.0f} MB (target <= 20 ms)"
        if checkov:
            cwall, _, crss = measure([checkov, "-f", single, "--quiet", "--compact", "-o", "json"], reps=1)
            line += f"; checkov {cwall:.2f} s, {crss:.0f} MB ({cwall / wall:.0f}x)"
        print(line)


if __name__ == "__main__":
    main()
