/* One element type of nanconvolve_rows.h, which includes this file once per
 * type, with NC_T, NC_BITS, NC_MAX, NC_ABS_MASK and NC_NAME defined. */

static inline int NC_NAME(nc_finite)(NC_T v)
{
    return (v < 0 ? -v : v) <= NC_MAX;
}

/* The sums of the outputs first .. n, one at a time (the part of a row the
 * vector blocks leave, or all of it without vector extensions). */
static void NC_NAME(nc_raw_scalar)(const NC_T **rows, const NC_T *taps, ptrdiff_t n_taps,
                                   ptrdiff_t first, ptrdiff_t n, int interpolate, NC_T hole,
                                   NC_T *top, NC_T *bottom)
{
    for (ptrdiff_t j = first; j < n; j++) {
        NC_T total = 0, weight = 0;
        for (ptrdiff_t t = 0; t < n_taps; t++) {
            const NC_T k = taps[t];
            if (NC_NAME(nc_finite)(rows[t][j])) {
                total += k * rows[t][j];
                weight += k;
            }
            else if (!interpolate) {
                total += k * hole;
            }
        }
        top[j] = total;
        bottom[j] = weight;
    }
}

static void NC_NAME(nc_pairs_scalar)(const NC_T **value_rows, const NC_T **weight_rows,
                                     const NC_T *taps, ptrdiff_t n_taps, ptrdiff_t first,
                                     ptrdiff_t n, int interpolate, NC_T *top, NC_T *bottom)
{
    for (ptrdiff_t j = first; j < n; j++) {
        NC_T total = 0, weight = 0;
        for (ptrdiff_t t = 0; t < n_taps; t++) {
            const NC_T k = taps[t];
            total += k * value_rows[t][j];
            if (interpolate) {
                weight += k * weight_rows[t][j];
            }
        }
        top[j] = total;
        bottom[j] = weight;
    }
}

/* out[j] = top[j] / bottom[j] * scale, or the centre value (NaN for a hole)
 * times scale where bottom[j] is 0 (astropy scales every output), when
 * `interpolate`; else top[j] * scale.  Returns the number of NaN outputs. */
static ptrdiff_t NC_NAME(nc_finish_scalar)(const NC_T *top, const NC_T *bottom,
                                           const NC_T *centre, ptrdiff_t first, ptrdiff_t n,
                                           int interpolate, NC_T scale, NC_T *out)
{
    ptrdiff_t nans = 0;
    for (ptrdiff_t j = first; j < n; j++) {
        NC_T r = top[j] * scale;
        if (interpolate) {
            const NC_T c = NC_NAME(nc_finite)(centre[j]) ? centre[j] : (NC_T)NAN;
            r = (bottom[j] == 0 ? c : top[j] / bottom[j]) * scale;
        }
        out[j] = r;
        nans += r != r;
    }
    return nans;
}

#if NC_VECTOR_EXTENSIONS

typedef NC_T NC_NAME(nc_vec) __attribute__((vector_size(NC_VECTOR_BYTES)));
typedef NC_BITS NC_NAME(nc_mask) __attribute__((vector_size(NC_VECTOR_BYTES)));
#define NC_VEC NC_NAME(nc_vec)
#define NC_MASK NC_NAME(nc_mask)
#define NC_LANES ((ptrdiff_t)(NC_VECTOR_BYTES / sizeof(NC_T)))
#define NC_BLOCK (NC_VECTORS * NC_LANES)
#define NC_BLOCK_TWO (NC_VECTORS_TWO * NC_LANES)

static inline NC_VEC NC_NAME(nc_load)(const NC_T *p)
{
    NC_VEC v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void NC_NAME(nc_store)(NC_T *p, NC_VEC v)
{
    memcpy(p, &v, sizeof v);
}

static void NC_NAME(nc_raw)(const NC_T **rows, const NC_T *taps, ptrdiff_t n_taps, ptrdiff_t n,
                            int interpolate, NC_T hole, NC_T *top, NC_T *bottom)
{
    const NC_VEC zero = {0};
    const NC_VEC largest = zero + NC_MAX;
    const NC_MASK magnitude = (NC_MASK){0} + (NC_BITS)NC_ABS_MASK;
    const NC_VEC holes = zero + hole;
    ptrdiff_t first = 0;
    for (; first + NC_BLOCK <= n; first += NC_BLOCK) {
        NC_VEC total[NC_VECTORS], weight[NC_VECTORS];
        for (int b = 0; b < NC_VECTORS; b++) {
            total[b] = zero;
            weight[b] = zero;
        }
        for (ptrdiff_t t = 0; t < n_taps; t++) {
            const NC_VEC kv = zero + taps[t];
            const NC_T *row = rows[t] + first;
            for (int b = 0; b < NC_VECTORS; b++) {
                const NC_VEC v = NC_NAME(nc_load)(row + b * NC_LANES);
                /* All ones where v is finite (NaN compares false). */
                const NC_MASK ok = (NC_MASK)((NC_VEC)((NC_MASK)v & magnitude) <= largest);
                if (interpolate) {
                    /* A hole's lanes become +0 before the multiply-add. */
                    total[b] += kv * (NC_VEC)((NC_MASK)v & ok);
                    weight[b] += (NC_VEC)((NC_MASK)kv & ok);
                }
                else {
                    total[b] += kv * (NC_VEC)(((NC_MASK)v & ok) | ((NC_MASK)holes & ~ok));
                }
            }
        }
        for (int b = 0; b < NC_VECTORS; b++) {
            NC_NAME(nc_store)(top + first + b * NC_LANES, total[b]);
            NC_NAME(nc_store)(bottom + first + b * NC_LANES, weight[b]);
        }
    }
    NC_NAME(nc_raw_scalar)(rows, taps, n_taps, first, n, interpolate, hole, top, bottom);
}

/* nc_raw for two neighbouring outputs rows at once: output 0 reads rows
 * 0 .. n_taps - 1, output 1 rows 1 .. n_taps, so that each row is loaded and
 * tested for holes once for both (interpolation only). */
static void NC_NAME(nc_raw_two)(const NC_T **rows, const NC_T *taps, ptrdiff_t n_taps,
                                ptrdiff_t n, NC_T *top0, NC_T *bottom0, NC_T *top1,
                                NC_T *bottom1)
{
    const NC_VEC zero = {0};
    const NC_VEC one = zero + 1;
    const NC_VEC largest = zero + NC_MAX;
    const NC_MASK magnitude = (NC_MASK){0} + (NC_BITS)NC_ABS_MASK;
    ptrdiff_t first = 0;
    for (; first + NC_BLOCK_TWO <= n; first += NC_BLOCK_TWO) {
        NC_VEC total0[NC_VECTORS_TWO], weight0[NC_VECTORS_TWO];
        NC_VEC total1[NC_VECTORS_TWO], weight1[NC_VECTORS_TWO];
        for (int b = 0; b < NC_VECTORS_TWO; b++) {
            total0[b] = weight0[b] = total1[b] = weight1[b] = zero;
        }
        for (ptrdiff_t r = 0; r <= n_taps; r++) {
            const NC_VEC k0 = zero + (r < n_taps ? taps[r] : 0);
            const NC_VEC k1 = zero + (r > 0 ? taps[r - 1] : 0);
            const NC_T *row = rows[r] + first;
            for (int b = 0; b < NC_VECTORS_TWO; b++) {
                const NC_VEC v = NC_NAME(nc_load)(row + b * NC_LANES);
                const NC_MASK ok = (NC_MASK)((NC_VEC)((NC_MASK)v & magnitude) <= largest);
                const NC_VEC value = (NC_VEC)((NC_MASK)v & ok);
                const NC_VEC valid = (NC_VEC)((NC_MASK)one & ok);
                total0[b] += k0 * value;
                weight0[b] += k0 * valid;
                total1[b] += k1 * value;
                weight1[b] += k1 * valid;
            }
        }
        for (int b = 0; b < NC_VECTORS_TWO; b++) {
            NC_NAME(nc_store)(top0 + first + b * NC_LANES, total0[b]);
            NC_NAME(nc_store)(bottom0 + first + b * NC_LANES, weight0[b]);
            NC_NAME(nc_store)(top1 + first + b * NC_LANES, total1[b]);
            NC_NAME(nc_store)(bottom1 + first + b * NC_LANES, weight1[b]);
        }
    }
    if (first < n) {
        NC_NAME(nc_raw_scalar)(rows, taps, n_taps, first, n, 1, 0, top0, bottom0);
        NC_NAME(nc_raw_scalar)(rows + 1, taps, n_taps, first, n, 1, 0, top1, bottom1);
    }
}

/* The sums of the NC_BLOCK outputs from `first` of rows that are already
 * value and weight sums, into registers (`weight` only when `interpolate`). */
static inline void NC_NAME(nc_pairs_block)(const NC_T **value_rows, const NC_T **weight_rows,
                                           const NC_T *taps, ptrdiff_t n_taps, ptrdiff_t first,
                                           int interpolate, NC_VEC *total, NC_VEC *weight)
{
    const NC_VEC zero = {0};
    for (int b = 0; b < NC_VECTORS; b++) {
        total[b] = zero;
        weight[b] = zero;
    }
    for (ptrdiff_t t = 0; t < n_taps; t++) {
        const NC_VEC kv = zero + taps[t];
        const NC_T *row = value_rows[t] + first;
        for (int b = 0; b < NC_VECTORS; b++) {
            total[b] += kv * NC_NAME(nc_load)(row + b * NC_LANES);
        }
        if (interpolate) {
            const NC_T *weight_row = weight_rows[t] + first;
            for (int b = 0; b < NC_VECTORS; b++) {
                weight[b] += kv * NC_NAME(nc_load)(weight_row + b * NC_LANES);
            }
        }
    }
}

static void NC_NAME(nc_pairs)(const NC_T **value_rows, const NC_T **weight_rows,
                              const NC_T *taps, ptrdiff_t n_taps, ptrdiff_t n, int interpolate,
                              NC_T *top, NC_T *bottom)
{
    ptrdiff_t first = 0;
    for (; first + NC_BLOCK <= n; first += NC_BLOCK) {
        NC_VEC total[NC_VECTORS], weight[NC_VECTORS];
        NC_NAME(nc_pairs_block)(value_rows, weight_rows, taps, n_taps, first, interpolate,
                                total, weight);
        for (int b = 0; b < NC_VECTORS; b++) {
            NC_NAME(nc_store)(top + first + b * NC_LANES, total[b]);
            NC_NAME(nc_store)(bottom + first + b * NC_LANES, weight[b]);
        }
    }
    NC_NAME(nc_pairs_scalar)(value_rows, weight_rows, taps, n_taps, first, n, interpolate,
                             top, bottom);
}

/* nc_pairs's sums of `n` outputs finished into `out` as nc_finish_scalar
 * does, while they are in registers. */
static ptrdiff_t NC_NAME(nc_pairs_finish)(const NC_T **value_rows, const NC_T **weight_rows,
                                          const NC_T *taps, ptrdiff_t n_taps, ptrdiff_t n,
                                          int interpolate, NC_T scale, const NC_T *centre,
                                          NC_T *top, NC_T *bottom, NC_T *out)
{
    const NC_VEC zero = {0};
    const NC_VEC largest = zero + NC_MAX;
    const NC_VEC scales = zero + scale;
    const NC_VEC nan = zero + (NC_T)NAN;
    const NC_MASK magnitude = (NC_MASK){0} + (NC_BITS)NC_ABS_MASK;
    const NC_MASK ones = (NC_MASK){0} + (NC_BITS)1;
    NC_MASK nan_lanes = {0};
    ptrdiff_t first = 0;
    for (; first + NC_BLOCK <= n; first += NC_BLOCK) {
        NC_VEC total[NC_VECTORS], weight[NC_VECTORS];
        NC_NAME(nc_pairs_block)(value_rows, weight_rows, taps, n_taps, first, interpolate,
                                total, weight);
        for (int b = 0; b < NC_VECTORS; b++) {
            NC_VEC r;
            if (interpolate) {
                const NC_VEC c = NC_NAME(nc_load)(centre + first + b * NC_LANES);
                const NC_MASK finite = (NC_MASK)((NC_VEC)((NC_MASK)c & magnitude) <= largest);
                const NC_MASK empty = (NC_MASK)(weight[b] == zero);
                const NC_VEC kept = (NC_VEC)(((NC_MASK)c & finite) | ((NC_MASK)nan & ~finite));
                const NC_VEC mean = total[b] / weight[b];
                r = (NC_VEC)(((NC_MASK)kept & empty) | ((NC_MASK)mean & ~empty)) * scales;
            }
            else {
                r = total[b] * scales;
            }
            NC_NAME(nc_store)(out + first + b * NC_LANES, r);
            nan_lanes += (NC_MASK)(r != r) & ones;
        }
    }
    ptrdiff_t nans = 0;
    for (ptrdiff_t lane = 0; lane < NC_LANES; lane++) {
        nans += (ptrdiff_t)nan_lanes[lane];
    }
    NC_NAME(nc_pairs_scalar)(value_rows, weight_rows, taps, n_taps, first, n, interpolate,
                             top, bottom);
    return nans + NC_NAME(nc_finish_scalar)(top, bottom, centre, first, n, interpolate, scale,
                                            out);
}

#undef NC_VEC
#undef NC_MASK
#undef NC_LANES
#undef NC_BLOCK
#undef NC_BLOCK_TWO

#else

static void NC_NAME(nc_raw)(const NC_T **rows, const NC_T *taps, ptrdiff_t n_taps, ptrdiff_t n,
                            int interpolate, NC_T hole, NC_T *top, NC_T *bottom)
{
    NC_NAME(nc_raw_scalar)(rows, taps, n_taps, 0, n, interpolate, hole, top, bottom);
}

static void NC_NAME(nc_raw_two)(const NC_T **rows, const NC_T *taps, ptrdiff_t n_taps,
                                ptrdiff_t n, NC_T *top0, NC_T *bottom0, NC_T *top1,
                                NC_T *bottom1)
{
    NC_NAME(nc_raw_scalar)(rows, taps, n_taps, 0, n, 1, 0, top0, bottom0);
    NC_NAME(nc_raw_scalar)(rows + 1, taps, n_taps, 0, n, 1, 0, top1, bottom1);
}

static void NC_NAME(nc_pairs)(const NC_T **value_rows, const NC_T **weight_rows,
                              const NC_T *taps, ptrdiff_t n_taps, ptrdiff_t n, int interpolate,
                              NC_T *top, NC_T *bottom)
{
    NC_NAME(nc_pairs_scalar)(value_rows, weight_rows, taps, n_taps, 0, n, interpolate, top,
                             bottom);
}

static ptrdiff_t NC_NAME(nc_pairs_finish)(const NC_T **value_rows, const NC_T **weight_rows,
                                          const NC_T *taps, ptrdiff_t n_taps, ptrdiff_t n,
                                          int interpolate, NC_T scale, const NC_T *centre,
                                          NC_T *top, NC_T *bottom, NC_T *out)
{
    NC_NAME(nc_pairs_scalar)(value_rows, weight_rows, taps, n_taps, 0, n, interpolate, top,
                             bottom);
    return NC_NAME(nc_finish_scalar)(top, bottom, centre, 0, n, interpolate, scale, out);
}

#endif
