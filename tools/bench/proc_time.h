/* proc_time.h — a program timed as a whole process for the benchmarks that set polydaq's CLI
 * beside a reference program (Python, pandas): wall time and the CPU time of all its threads,
 * and the median of repeated timings. Built into every pd-bench-* program (tools/CMakeLists.txt). */
#ifndef PD_BENCH_PROC_TIME_H
#define PD_BENCH_PROC_TIME_H

/* Runs argv (argv[0] a path, not searched in PATH) as a whole process, stdout into out_path and
 * stderr into err_path (NULL: inherited). Returns its wall seconds, or < 0 when it could not start,
 * ended by a signal or exited with a status above max_status; *cpu = its user + system CPU
 * seconds (all its threads, from wait4, and those of any process of its group that outlived it:
 * the caller becomes a child subreaper, and the program runs in a process group of its own). Started with posix_spawn (a vfork-style clone, as a
 * shell or a lab's scheduler starts a command), not fork: fork first copies the benchmark's own
 * page tables — after an in-process run it holds a large heap — which is no cost of the process
 * measured. On a busy machine the wall time of a multi-threaded process shrinks less than its
 * CPU time suggests, so both are returned. */
double pd_bench_proc_time(char *const argv[], const char *out_path, const char *err_path, int max_status,
                          double *cpu);

/* The median of n > 0 values (sorts x in place). */
double pd_bench_median(double *x, int n);

#endif
