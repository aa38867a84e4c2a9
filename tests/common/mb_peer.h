/* mb_peer.h — a scripted Modbus TCP device on loopback for driver tests: a server thread with
 * holding and input registers the test sets, that misbehaves on request the way real devices and
 * gateways do (answering with another unit id, an exception or silence for reads touching chosen
 * registers, closing the connection after every answer) and counts what it saw. Written for the
 * driver's link tests, so it frames Modbus TCP itself instead of trusting the library under test. */
#ifndef PD_TEST_MB_PEER_H
#define PD_TEST_MB_PEER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#define PD_TEST_MB_PEER_REGISTERS 256

/* Ways to spoil an answer: a protocol id other than Modbus's, another function code than asked,
 * one data byte fewer than asked (byte count and length consistent), the previous transaction id. */
enum pd_test_mb_mangle { PD_MB_MANGLE_NONE, PD_MB_MANGLE_PROTOCOL, PD_MB_MANGLE_FUNCTION,
                         PD_MB_MANGLE_SHORT, PD_MB_MANGLE_TRANSACTION };

struct pd_test_mb_peer {
    int port; /* where it listens on 127.0.0.1, set by start */

    /* The script; may change at any time, read per request. */
    atomic_int reply_unit;         /* -1: answer with the request's unit id; else with this one */
    atomic_int fail_function;      /* 3 or 4: reads of that function ... */
    atomic_int fail_first, fail_last; /* ... touching these wire addresses fail; 0: nothing fails */
    atomic_int fail_exception;     /* how: with this exception code, or 0: no answer at all */
    atomic_int close_after_answer; /* close the connection after every answer */
    atomic_int mangle_next;        /* spoil the next answer (enum pd_test_mb_mangle), then 0 */

    /* What it saw. */
    atomic_int connections; /* accepted */
    atomic_int requests;    /* complete requests received */
    atomic_int last_unit;   /* unit id of the last request */

    pthread_mutex_t lock; /* guards the registers */
    uint16_t holding[PD_TEST_MB_PEER_REGISTERS];
    uint16_t input[PD_TEST_MB_PEER_REGISTERS];

    /* private */
    int listen_fd;
    atomic_int stop;
    pthread_t thread;
};

/* Listens on an ephemeral loopback port and starts serving; registers zero, script all off
 * (reply_unit -1). Returns 0, or -1 with errno. */
int pd_test_mb_peer_start(struct pd_test_mb_peer *peer);
void pd_test_mb_peer_stop(struct pd_test_mb_peer *peer);
/* Puts a float32 (ABCD: high word first) into two input registers. */
void pd_test_mb_peer_put_float(struct pd_test_mb_peer *peer, unsigned address, float value);

#endif
