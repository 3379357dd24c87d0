# plot.gp - draw a bench-*.csv of ingest-vs-azcopy: one row of panels per sink
# (throughput, CPU seconds per GB, peak RSS), one point per run and tool.
#   gnuplot -e "csv='bench-X.csv'; png='bench-X.png'; sinks='nginx azurite'" bench/plot.gp
# (sinks: those with at least one successful run)
# CSV columns: sink,tool,round,rc,bytes,files,wall_s,mb_per_s,cpu_s,cpu_s_per_gb,
#              peak_rss_mib,received_bytes

set datafile separator ","
set terminal pngcairo size 1500,450 * words(sinks) font ",10"
set output png
set key top left
set grid ytics
set xlabel "round"
set xtics 1
set offsets 0.5, 0.5, 0, 0
set yrange [0:*]
set style data points

# a value of column c for one sink and tool among successful runs, else no point
pick(s, t, c) = (strcol(1) eq s && strcol(2) eq t && column(4) == 0) ? column(c) : 1/0

set multiplot layout words(sinks),3 title "pstream vs AzCopy 10.32.2 (loopback)"
do for [s in sinks] {
        set title sprintf("%s: throughput (MB/s, higher is better)", s)
        plot csv skip 1 using 3:(pick(s, "pstream", 8)) title "pstream" pt 7 ps 1.5, \
             csv skip 1 using 3:(pick(s, "azcopy", 8)) title "AzCopy" pt 5 ps 1.5
        set title sprintf("%s: CPU seconds per GB (lower is better)", s)
        plot csv skip 1 using 3:(pick(s, "pstream", 10)) title "pstream" pt 7 ps 1.5, \
             csv skip 1 using 3:(pick(s, "azcopy", 10)) title "AzCopy" pt 5 ps 1.5
        set title sprintf("%s: peak RSS (MiB, lower is better)", s)
        plot csv skip 1 using 3:(pick(s, "pstream", 11)) title "pstream" pt 7 ps 1.5, \
             csv skip 1 using 3:(pick(s, "azcopy", 11)) title "AzCopy" pt 5 ps 1.5
}
unset multiplot
