/* decision.c — measurement uncertainty from a method's budget and conformity decisions per ILAC-G8:09/2019. */
#include <math.h>
#include <string.h>

#include "cert/cert.h"

double pd_uncertainty_standard(const struct pd_uncertainty_budget *b, const double sens[PD_U_SOURCE_COUNT],
                               double value, double width_mm, double thickness_mm, double length_mm)
{
    if (!b || !sens || !isfinite(value))
        return NAN;
    /* Every input is the half-width a of a rectangular distribution: u = a/√3. */
    const double r3 = sqrt(3.0);
    double rel2 = 0.0, abs2 = 0.0;
    for (int s = 0; s < PD_U_SOURCE_COUNT; s++) {
        if (sens[s] == 0.0 || b->input[s] == 0.0)
            continue;
        double u;
        switch (s) {
        case PD_U_WIDTH:
            if (!(width_mm > 0.0))
                continue;
            u = b->input[s] / r3 / width_mm;
            break;
        case PD_U_THICKNESS:
            if (!(thickness_mm > 0.0))
                continue;
            u = b->input[s] / r3 / thickness_mm;
            break;
        case PD_U_LENGTH:
            if (!(length_mm > 0.0))
                continue;
            u = b->input[s] / r3 / length_mm;
            break;
        case PD_U_DISPLACEMENT_ABS:
        case PD_U_MASS_ABS:
            continue; /* the method's own term (cert_values.u_extra): its sensitivity depends on the data */
        case PD_U_TEMPERATURE:
        case PD_U_READING:
            abs2 += (sens[s] * b->input[s] / r3) * (sens[s] * b->input[s] / r3);
            continue;
        default:
            u = b->input[s] / 100.0 / r3;
            break;
        }
        rel2 += (sens[s] * u) * (sens[s] * u);
    }
    return sqrt(rel2 * value * value + abs2);
}

int pd_decision_rule_parse(const char *s)
{
    static const char *const ids[] = {"simple", "guard-band", "guard-band-nonbinary"};
    for (int i = 0; s && i < 3; i++)
        if (strcmp(s, ids[i]) == 0)
            return i;
    return -1;
}

const char *pd_decision_rule_id(enum pd_decision_rule rule)
{
    switch (rule) {
    case PD_RULE_SIMPLE: return "simple";
    case PD_RULE_GUARD_BINARY: return "guard-band";
    case PD_RULE_GUARD_NONBINARY: return "guard-band-nonbinary";
    }
    return "?";
}

const char *pd_decision_rule_text(enum pd_decision_rule rule)
{
    switch (rule) {
    case PD_RULE_SIMPLE:
        return "ILAC-G8:09/2019 binary statement, simple acceptance (w = 0): a result within the tolerance limits "
               "(inclusive, unrounded) passes; probability of false acceptance up to 50 % at a limit";
    case PD_RULE_GUARD_BINARY:
        return "ILAC-G8:09/2019 binary statement with guard band w = f x U (k = 2): acceptance limits AL = TL "
               "moved inwards by w; a result within AL passes, otherwise fails";
    case PD_RULE_GUARD_NONBINARY:
        return "ILAC-G8:09/2019 non-binary statement with guard band w = f x U (k = 2): within AL pass; between AL "
               "and TL conditional pass; between TL and TL + w conditional fail; beyond fail";
    }
    return "?";
}

const char *pd_verdict_name(enum pd_verdict v)
{
    switch (v) {
    case PD_VERDICT_PASS: return "pass";
    case PD_VERDICT_FAIL: return "fail";
    case PD_VERDICT_COND_PASS: return "conditional pass";
    case PD_VERDICT_COND_FAIL: return "conditional fail";
    }
    return "?";
}

enum pd_verdict pd_verdict_combine(enum pd_verdict a, enum pd_verdict b)
{
    static const int rank[] = {[PD_VERDICT_PASS] = 0, [PD_VERDICT_COND_PASS] = 1, [PD_VERDICT_COND_FAIL] = 2,
                               [PD_VERDICT_FAIL] = 3};
    return rank[a] >= rank[b] ? a : b;
}

int pd_decide(enum pd_decision_rule rule, double guard_factor, bool has_min, double min, bool has_max, double max,
              double value, double U, double k, struct pd_decision *out)
{
    if (!out || (!has_min && !has_max) || (unsigned)rule > PD_RULE_GUARD_NONBINARY)
        return PD_EINVAL;
    if (rule != PD_RULE_SIMPLE && !(isfinite(U) && U >= 0.0 && isfinite(guard_factor) && guard_factor >= 0.0))
        return PD_EINVAL;
    struct pd_decision d = {.rule = rule, .U = U, .k = k, .has_min = has_min, .has_max = has_max,
                            .tl_min = min, .tl_max = max};
    d.w = rule == PD_RULE_SIMPLE ? 0.0 : guard_factor * U;
    d.al_min = min + d.w;
    d.al_max = max - d.w;
    bool in_tl = (!has_min || value >= min) && (!has_max || value <= max);
    bool in_al = (!has_min || value >= d.al_min) && (!has_max || value <= d.al_max);
    bool near_tl = (!has_min || value >= min - d.w) && (!has_max || value <= max + d.w); /* within TL + w */
    if (!isfinite(value))
        d.verdict = PD_VERDICT_FAIL;
    else if (rule == PD_RULE_SIMPLE)
        d.verdict = in_tl ? PD_VERDICT_PASS : PD_VERDICT_FAIL;
    else if (rule == PD_RULE_GUARD_BINARY)
        d.verdict = in_al ? PD_VERDICT_PASS : PD_VERDICT_FAIL;
    else if (in_al)
        d.verdict = PD_VERDICT_PASS;
    else if (in_tl)
        d.verdict = PD_VERDICT_COND_PASS;
    else if (near_tl)
        d.verdict = PD_VERDICT_COND_FAIL;
    else
        d.verdict = PD_VERDICT_FAIL;
    *out = d;
    return 0;
}
