/* model.c — the Charpy pendulum's swing: energy drawn for the specimen, rise angle, friction-corrected result. */
#include "pendulum/core/pendulum.h"

#define DEG (FW_PI / 180.0)
#define SCATTER_CLIP_SD 3.0
#define NOISE_STREAM_SALT 0x70656E64756Cull

static const double nominal_energies[] = {0.5, 1.0, 2.0, 4.0, 5.0, 7.5, 15.0, 25.0, 50.0};

void pn_params_defaults(struct pn_params *p)
{
    fw_memset(p, 0, sizeof *p);
    p->seed = 1;
    p->time_scale = 1.0;
    p->nominal_energy_j = 1.0;
    p->release_angle_deg = 150.0;
    p->friction_loss_j = 0.004;
    p->energy_mean_j = 0.41;
    p->energy_sd_j = 0.02;
    p->angle_noise_deg = 0.01;
    p->serial_number = 1;
    p->cal_year = 2026;
    p->cal_month = 6;
    p->cal_day = 1;
}

static int fail(const char **why, const char *reason)
{
    if (why)
        *why = reason;
    return PN_EINVAL;
}

static int within(double v, double lo, double hi)
{
    return fw_isfinite(v) && v >= lo && v <= hi;
}

int pn_init(struct pn_pendulum *pn, const struct pn_params *p, const char **why)
{
    int nominal_ok = 0;
    for (size_t i = 0; i < sizeof nominal_energies / sizeof nominal_energies[0]; i++)
        nominal_ok |= p->nominal_energy_j == nominal_energies[i];
    if (!nominal_ok)
        return fail(why, "nominal energy must be one of 0.5, 1, 2, 4, 5, 7.5, 15, 25, 50 J");
    if (!within(p->time_scale, 0.0, 10000.0) || p->time_scale == 0.0)
        return fail(why, "time scale must be in (0, 10000]");
    if (!within(p->release_angle_deg, 90.0, 170.0))
        return fail(why, "release angle must be in [90, 170] degrees");
    if (!within(p->friction_loss_j, 0.0, 0.05 * p->nominal_energy_j))
        return fail(why, "friction loss must be in [0, 5 % of the nominal energy] J");
    if (!within(p->energy_mean_j, 0.0, p->nominal_energy_j) || !within(p->energy_sd_j, 0.0, p->nominal_energy_j))
        return fail(why, "specimen energy mean and SD must be in [0, nominal energy] J");
    if (!within(p->angle_noise_deg, 0.0, 1.0))
        return fail(why, "angle noise must be in [0, 1] degree");
    if (p->cal_year < 1970 || p->cal_month < 1 || p->cal_month > 12 || p->cal_day < 1 || p->cal_day > 31)
        return fail(why, "calibration date is not a valid date");
    fw_memset(pn, 0, sizeof *pn);
    pn->params = *p;
    pn->hammer_w = p->nominal_energy_j / (1.0 - fw_cos(p->release_angle_deg * DEG));
    pn->status = PN_STATUS_READY;
    pn->flags = PN_FLAG_SIMULATED;
    pn->friction_loss_j = (float)p->friction_loss_j;
    fw_rng_seed(&pn->specimen_rng, p->seed);
    fw_rng_seed(&pn->noise_rng, p->seed ^ NOISE_STREAM_SALT);
    return PN_OK;
}

/* Rise angle for an absorbed energy (true friction included), and the energy it reads with the
 * calibrated friction correction. */
static double rise_angle_deg_for(const struct pn_pendulum *pn, double absorbed_j)
{
    double left = pn->params.nominal_energy_j - absorbed_j - pn->params.friction_loss_j;
    if (left <= 0.0)
        return 0.0;
    return fw_acos(1.0 - left / pn->hammer_w) / DEG;
}

static double energy_for_angle(const struct pn_pendulum *pn, double rise_deg)
{
    return pn->hammer_w * (fw_cos(rise_deg * DEG) - fw_cos(pn->params.release_angle_deg * DEG)) -
           (double)pn->friction_loss_j;
}

double pn_reading_for(const struct pn_pendulum *pn, double absorbed_j, double *rise_angle_deg)
{
    double beta = rise_angle_deg_for(pn, absorbed_j);
    if (rise_angle_deg)
        *rise_angle_deg = beta;
    return energy_for_angle(pn, beta);
}

static double draw_energy(struct pn_pendulum *pn)
{
    double g = fw_rng_gauss(&pn->specimen_rng);
    if (g > SCATTER_CLIP_SD)
        g = SCATTER_CLIP_SD;
    if (g < -SCATTER_CLIP_SD)
        g = -SCATTER_CLIP_SD;
    double e = pn->params.energy_mean_j + pn->params.energy_sd_j * g;
    return e > 0.0 ? e : 0.0;
}

static void finish_swing(struct pn_pendulum *pn)
{
    /* One specimen draw per released swing (none for free swings), so impact n depends only on
     * the seed and the number of impacts before it. */
    double absorbed = pn->free_swing ? 0.0 : draw_energy(pn);
    double noise = pn->params.angle_noise_deg * fw_rng_gauss(&pn->noise_rng);
    uint16_t flags = (uint16_t)(pn->flags & PN_FLAG_SIMULATED);
    double beta;
    if (absorbed >= pn->params.nominal_energy_j - pn->params.friction_loss_j) {
        beta = 0.0; /* the hammer stayed in the specimen */
        flags |= PN_FLAG_NOT_BROKEN;
    } else {
        beta = rise_angle_deg_for(pn, absorbed) + noise;
        if (beta < 0.0)
            beta = 0.0;
    }
    if (pn->free_swing) {
        /* without a specimen the whole shortfall of the rise is friction */
        double loss = pn->hammer_w * (fw_cos(beta * DEG) - fw_cos(pn->params.release_angle_deg * DEG));
        pn->friction_loss_j = (float)(loss > 0.0 ? loss : 0.0);
    }
    double reading = energy_for_angle(pn, beta);
    pn->rise_angle_deg = (float)beta;
    pn->absorbed_j = (float)reading;
    double e_nom = pn->params.nominal_energy_j;
    if (!pn->free_swing && (reading < 0.1 * e_nom || reading > 0.8 * e_nom))
        flags |= PN_FLAG_OUT_OF_RANGE;
    flags |= PN_FLAG_RESULT;
    pn->flags = flags;
    if (!pn->free_swing)
        pn->impact_counter++;
    pn->status = PN_STATUS_DONE;
}

void pn_step(struct pn_pendulum *pn, uint64_t now_us)
{
    if (!pn->clock_started) {
        pn->clock_started = 1;
        pn->clock_origin_us = now_us;
        pn->now_us = 0;
        return;
    }
    if (now_us < pn->clock_origin_us)
        return;
    uint64_t t = (uint64_t)((double)(now_us - pn->clock_origin_us) * pn->params.time_scale);
    if (t > pn->now_us)
        pn->now_us = t;
    if (pn->status == PN_STATUS_SWINGING && pn->now_us >= pn->swing_end_us)
        finish_swing(pn);
}

int pn_release(struct pn_pendulum *pn, int free_swing)
{
    if (pn->status != PN_STATUS_READY)
        return MB_EX_DEVICE_BUSY;
    pn->status = PN_STATUS_SWINGING;
    pn->free_swing = free_swing;
    pn->swing_end_us = pn->now_us + PN_SWING_US;
    return 0;
}

int pn_reset(struct pn_pendulum *pn)
{
    if (pn->status == PN_STATUS_SWINGING)
        return MB_EX_DEVICE_BUSY;
    pn->status = PN_STATUS_READY;
    pn->flags &= (uint16_t)~PN_FLAG_RESULT;
    return 0;
}
