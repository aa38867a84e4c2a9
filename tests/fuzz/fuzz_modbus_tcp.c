/* fuzz_modbus_tcp.c — libFuzzer target: any bytes as a device's answer to one Modbus TCP request
 * of the driver (drivers/modbus/tcp.c). The first two bytes choose the request (read of a table,
 * write, report slave id) and its size, the rest is what comes back on the socket before the
 * device hangs up. Whatever it is, the call returns what it asked for or -1 with an errno of its
 * contract, within bounds, without waiting longer than its timeouts. */
#include <errno.h>
#include <modbus.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "modbus/tcp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int known_errno(int e)
{
    return e == ETIMEDOUT || e == EMBBADDATA || e == EMBBADSLAVE || e == EMBUNKEXC || e == ECONNRESET ||
           e == EPIPE || (e >= EMBXILFUN && e <= EMBXGTAR);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        return 0;
    modbus_t *ctx = modbus_new_tcp("127.0.0.1", 502);
    if (!ctx || modbus_set_socket(ctx, sv[0]) != 0)
        abort();
    /* the device's whole answer is there at once, then it hangs up: no call may wait for more */
    if (size > 2 && write(sv[1], data + 2, size - 2) != (ssize_t)(size - 2))
        abort();
    shutdown(sv[1], SHUT_WR);

    struct pd_mb_tcp t = {.ctx = ctx, .unit = 1, .any_unit = data[0] & 0x80, .response_timeout_ms = 20,
                          .byte_timeout_ms = 5, .connected = true};
    unsigned kind = data[0] & 7;
    int rc;
    if (kind < 4) {
        enum pd_mb_table table = (enum pd_mb_table)kind;
        unsigned limit = table == PD_MB_COIL || table == PD_MB_DISCRETE ? 2000 : 125;
        unsigned count = 1 + data[1] % limit;
        uint16_t out[2000];
        rc = pd_mb_tcp_read(&t, table, data[1], count, out);
        if (rc != -1 && rc != (int)count)
            abort();
    } else if (kind < 7) {
        struct pd_mb_field f = {.table = kind == 4 ? PD_MB_COIL : PD_MB_HOLDING, .address = data[1],
                                .type = kind == 6 ? PD_MB_FLOAT64 : PD_MB_UINT16, .scale = 1.0};
        uint16_t regs[4] = {1, 2, 3, 4};
        rc = pd_mb_tcp_write(&t, &f, regs);
        if (rc != -1 && rc != (int)pd_mb_field_width(&f))
            abort();
    } else {
        uint8_t dest[8];
        rc = pd_mb_tcp_report_slave_id(&t, sizeof dest, dest);
        if (rc < -1 || rc > 255)
            abort();
    }
    if (rc == -1 && !known_errno(errno))
        abort();
    pd_mb_tcp_close(&t); /* closes sv[0] through libmodbus */
    modbus_free(ctx);
    close(sv[1]);
    return 0;
}
