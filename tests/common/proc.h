/* proc.h — child processes for the tests that drive real programs: polydaq-sim started with its
 * announcement line read back, lines from a pipe with a deadline, and a stop that cannot hang. */
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

/* SIGTERM, then SIGKILL after 3 s; reaps the child and sets *pid to -1. No-op when *pid <= 0. */
void pd_test_stop(pid_t *pid);

#endif
