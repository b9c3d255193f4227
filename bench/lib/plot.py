"""PNG plots of bench/run's results through gnuplot (skipped without it)."""
import os
import shutil
import statistics
import subprocess


def _gnuplot(script, work):
    r = subprocess.run(["gnuplot"], input=script, text=True, capture_output=True, cwd=work)
    if r.returncode != 0:
        print("bench/run: gnuplot: " + r.stderr.strip()[-300:])
        return False
    return True


def plots(args, raw):
    if not shutil.which("gnuplot"):
        return []
    work = os.path.join(args.build_dir, "bench-run")
    os.makedirs(args.out, exist_ok=True)
    out = []
    series = raw.get("mem_series")
    if series:
        # One data file per series: N, median, min, max of MiB per VM.
        files = []
        for i, (name, by_n) in enumerate(series.items()):
            path = os.path.join(work, f"mem{i}.dat")
            with open(path, "w") as f:
                for n in sorted(by_n, key=int):
                    v = by_n[n]
                    if v:
                        f.write(f"{n} {statistics.median(v)} {min(v)} {max(v)}\n")
            files.append((path, name))
        png = os.path.join(args.out, "memory-per-vm.png")
        plotcmd = ", ".join(
            f"'{p}' using 1:2:3:4 with yerrorlines lw 2 pt 7 title '{t}'" for p, t in files)
        if _gnuplot(f"""set terminal pngcairo size 900,580 font ',11'
set output '{png}'
set title 'VMM memory per idle VM (RSS minus guest RAM), lower is better'
set xlabel 'idle VMs'
set ylabel 'MiB per VM (log scale)'
set logscale x
set xrange [{min(args.vms) * 0.8}:{max(args.vms) * 1.25}]
set xtics ({', '.join(str(n) for n in args.vms)})
set logscale y
set grid
set key outside below horizontal
plot {plotcmd}
""", work):
            out.append(png)
    st = raw.get("start")
    if st and st.get("modvm_ms") and st.get("qemu_ms"):
        path = os.path.join(work, "start.dat")
        with open(path, "w") as f:
            for i, (name, v) in enumerate((("modvm", st["modvm_ms"]), ("QEMU microvm", st["qemu_ms"]),
                                           ("QEMU microvm, trimmed", st.get("qemu_trim_ms")))):
                if v:
                    f.write(f"{i} \"{name}\" {statistics.median(v)} {min(v)} {max(v)}\n")
        png = os.path.join(args.out, "start-first-instruction.png")
        if _gnuplot(f"""set terminal pngcairo size 700,440 font ',11'
set output '{png}'
set title 'start → first guest instruction (median, min–max), lower is better'
set ylabel 'ms'
set yrange [0:*]
set xrange [-0.6:2.6]
set style fill solid 0.5
set boxwidth 0.5
set grid ytics
plot '{path}' using 1:3:xtic(2) with boxes notitle, '' using 1:3:4:5 with yerrorbars lw 2 pt 0 notitle
""", work):
            out.append(png)
    return out
