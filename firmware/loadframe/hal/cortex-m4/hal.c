/* hal.c — skeleton of the Cortex-M4 port: what a target hal provides around the portable core (not built yet). */
#include <stdint.h>

#include "loadframe/core/loop.h"
#include "loadframe/core/model.h"
#include "loadframe/core/regs.h"

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

/* Modbus RTU on the UART: returns a complete request (3.5-character silence ends a frame, CRC
 * checked) or 0 when none is pending. */
static int hal_uart_take_request(uint8_t *frame, int max)
{
    (void)frame;
    (void)max;
    return 0;
}

static void hal_uart_send(const uint8_t *frame, int len)
{
    (void)frame;
    (void)len;
}

/* Parses the PDU, calls lf_regs_read_input / lf_regs_read_holding / lf_regs_write_holding and
 * frames the answer or the exception they return. */
static int build_reply(struct lf_frame *frame, const uint8_t *req, int len, uint8_t *rsp)
{
    (void)frame;
    (void)req;
    (void)len;
    (void)rsp;
    return 0;
}

int main(void)
{
    static struct lf_frame frame;
    struct lf_frame_params params;
    lf_frame_params_defaults(&params);
    params.simulated = 0;
    if (lf_frame_init(&frame, &params, 0) != LF_OK)
        for (;;) {
        }
    uint8_t req[256], rsp[256];
    for (;;) {
        lf_step(&frame, hal_now_us());
        hal_read_sensors(&frame);
        hal_drive_crosshead(lf_frame_speed(&frame));
        int len = hal_uart_take_request(req, sizeof req);
        if (len > 0) {
            int out = build_reply(&frame, req, len, rsp);
            if (out > 0)
                hal_uart_send(rsp, out);
        }
    }
}
