/* proc.h — child processes for the tests that drive real programs: polydaq-sim started with its
 * announcement line read back, lines from a pipe with a deadline, a stop that cannot hang, and
 * any program run with its output in files that are then read back. */
#ifndef PD_TEST_PROC_H
#define PD_TEST_PROC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* CLOCK_MONOTONIC in ms. */
int64_t pd_test_now_ms(void);

/* One '\n'-terminated line from fd within timeout_ms, without the '\n'; its length, or -1 on
 * timeout, end of file or a line longer than size - 1. */
int pd_test_read_line(int fd, char *buf, size_t size, int timeout_ms);

/* Starts `polydaq-sim ARGS...` (args NULL-terminated, at most 30) and copies the first line it
 * prints on stdout (its `listening ADDR` announcement) into line; the pipe is closed after it, as
 * acq does. Returns the child's pid, or -1 (nothing started, or no line within 10 s: then the
 * child is stopped). */
pid_t pd_test_start_sim(const char *const *args, char *line, size_t size);

/* pd_test_start_sim for a device serving Modbus TCP on loopback (args with `--tcp 127.0.0.1:0`):
 * the port it announced into *port. Returns the pid, or -1 (then any child is stopped). */
pid_t pd_test_start_sim_tcp(const char *const *args, int *port);

/* SIGTERM, then SIGKILL after 3 s; reaps the child and sets *pid to -1. No-op when *pid <= 0. */
void pd_test_stop(pid_t *pid);

/* Starts argv[0] (a path) with stdout and stderr into these files (NULL: inherited); the pid, or
 * -1. A child that cannot open them or exec exits 127. */
pid_t pd_test_spawn(char *const argv[], const char *out_path, const char *err_path);

/* Reaps pid: its exit status, or 128 + the signal that ended it. */
int pd_test_wait_exit(pid_t pid);

/* The first 64 KiB of a file, NUL-terminated, in a static buffer the next call overwrites; NULL
 * when it cannot be opened. */
char *pd_test_slurp(const char *path);

#endif
