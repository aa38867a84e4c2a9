/* hal.c — skeleton of the Cortex-M4 port: the main loop around the portable core and its Modbus RTU slave. */
#include <stddef.h>
#include <stdint.h>

#include "loadframe/core/loop.h"
#include "loadframe/core/model.h"
#include "loadframe/core/regs.h"
#include "mbslave/core/mbslave.h"

/* The line settings of the RS-485 port (a real board reads them from DIP switches or flash). */
#define HAL_BAUD 19200u
#define HAL_UNIT_ID 1u

/* Free-running µs counter (e.g. a 32-bit timer extended in its overflow interrupt). */
static uint64_t hal_now_us(void)
{
    return 0;
}

/* Load cell ADC and extensometer encoder: on hardware these replace the simulated readings that
 * lf_frame_cycle computes. */
static void hal_read_sensors(struct lf_frame *frame)
{
    (void)frame;
}

/* Crosshead drive: step rate from lf_frame_speed(), direction from its sign. */
static void hal_drive_crosshead(double speed_mm_min)
{
    (void)speed_mm_min;
}

/* Bytes the UART receive interrupt has put into its ring since the last call (at most max). */
static size_t hal_uart_read(uint8_t *buf, size_t max)
{
    (void)buf;
    (void)max;
    return 0;
}

/* Drives the RS-485 transmitter, sends, and releases the line after the last stop bit. */
static void hal_uart_send(const uint8_t *frame, size_t len)
{
    (void)frame;
    (void)len;
}

int main(void)
{
    static struct lf_frame frame;
    static struct mb_slave slave;
    static struct mb_rtu_rx rx;
    static char identity[48];
    struct lf_frame_params params;
    lf_frame_params_defaults(&params);
    params.simulated = 0;
    if (lf_frame_init(&frame, &params, 0) != LF_OK)
        for (;;) {
        }
    lf_regs_identity(&frame, identity, sizeof identity);
    mb_slave_init(&slave, &lf_regs_tables, &frame, HAL_UNIT_ID, LF_SLAVE_ID, identity);
    mb_rtu_rx_init(&rx, mb_rtu_silence_us(HAL_BAUD, mb_rtu_bits_per_char(8, 'E', 1)));
    for (;;) {
        uint64_t now = hal_now_us();
        lf_step(&frame, now);
        hal_read_sensors(&frame);
        hal_drive_crosshead(lf_frame_speed(&frame));

        uint8_t request[MB_MAX_RTU_ADU], response[MB_MAX_RTU_ADU], bytes[64];
        size_t len = mb_rtu_rx_take(&rx, now, request); /* a frame the 3.5-character silence ended */
        if (len > 0) {
            size_t out = mb_rtu_process(&slave, request, len, response);
            if (out > 0)
                hal_uart_send(response, out);
        }
        size_t got = hal_uart_read(bytes, sizeof bytes);
        mb_rtu_rx_push(&rx, bytes, got, now);
    }
}
