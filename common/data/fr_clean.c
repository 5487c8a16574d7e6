/* Cleaning: the --event-filter expression, deduplication and the k-core filter. The
 * row-level steps (timestamp range, event filter) run while the file is read, in
 * fr_data_read.c; the steps here need every event at once. Each dropped event is
 * counted in the report under its reason, with its line number. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/fr_data_int.h"

/* ------------------------------------------------------------------ event filter */

static int is_name_char(char c, int first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
           (!first && c >= '0' && c <= '9');
}

static const char *skip_spaces(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

fr_status fr_clean_filter_parse(fr_clean_filter *f, const char *expr, const fr_data_format *fmt,
                                fr_err *err)
{
    static const struct {
        const char *s;
        int op;
    } ops[] = {{"!=", FR_OP_NE}, {"<=", FR_OP_LE}, {">=", FR_OP_GE}, {"==", FR_OP_EQ},
               {"=", FR_OP_EQ},  {"<", FR_OP_LT},  {">", FR_OP_GT}};
    const char *p = skip_spaces(expr), *name = p, *val;
    size_t name_n = 0, val_n;
    char list[128] = "";
    size_t used = 0;
    memset(f, 0, sizeof *f);
    while (is_name_char(p[name_n], name_n == 0))
        name_n++;
    p = skip_spaces(p + name_n);
    size_t k = 0;
    for (; k < sizeof ops / sizeof ops[0]; k++)
        if (!strncmp(p, ops[k].s, strlen(ops[k].s)))
            break;
    if (name_n == 0 || name_n >= sizeof f->name || k == sizeof ops / sizeof ops[0])
        return fr_fail(err, FR_EINVAL,
                       "--event-filter '%.100s': expected FIELD OP VALUE with "
                       "OP one of = != < <= > >= (e.g. rating>=4)",
                       expr);
    f->op = ops[k].op;
    val = skip_spaces(p + strlen(ops[k].s));
    for (val_n = strlen(val); val_n > 0 && (val[val_n - 1] == ' ' || val[val_n - 1] == '\t');)
        val_n--;
    memcpy(f->name, name, name_n);
    f->name[name_n] = '\0';
    for (const fr_data_field *d = fmt->fields; d->name; d++) {
        used += (size_t)snprintf(list + used, used < sizeof list ? sizeof list - used : 0, "%s%s",
                                 d == fmt->fields ? "" : ", ", d->name);
        if (!strcmp(d->name, f->name))
            f->field = d->field;
    }
    if (f->field == FR_FIELD_NONE) {
        f->field = FR_FIELD_NONE;
        return fr_fail(err, FR_EINVAL, "--event-filter: format %s has no field '%s' (it has: %s)",
                       fmt->name, f->name, list);
    }
    if (val_n == 0) {
        f->field = FR_FIELD_NONE;
        return fr_fail(err, FR_EINVAL, "--event-filter '%.100s': the value is missing", expr);
    }
    if (f->field == FR_FIELD_EVENT) {
        if ((f->op != FR_OP_EQ && f->op != FR_OP_NE) || val_n > FR_DATA_MAX_EVENT) {
            f->field = FR_FIELD_NONE;
            return fr_fail(err, FR_EINVAL,
                           "--event-filter '%.100s': event compares with = or "
                           "!= to a name of at most %d bytes",
                           expr, FR_DATA_MAX_EVENT);
        }
        memcpy(f->text, val, val_n);
        f->text_n = val_n;
    } else if (fr_csv_parse_float(val, val_n, &f->num) != FR_OK || !isfinite(f->num)) {
        f->field = FR_FIELD_NONE;
        return fr_fail(err, FR_EINVAL, "--event-filter '%.100s': '%.*s' is not a number", expr,
                       (int)(val_n < 40 ? val_n : 40), val);
    }
    return FR_OK;
}

int fr_clean_filter_pass(const fr_clean_filter *f, const fr_data_row *row)
{
    if (f->field == FR_FIELD_NONE)
        return 1;
    if (f->field == FR_FIELD_EVENT) {
        size_t n = row->event ? row->event_n : 0;
        int eq = n == f->text_n && (n == 0 || memcmp(row->event, f->text, n) == 0);
        return f->op == FR_OP_EQ ? eq : !eq;
    }
    /* A row without the field (no value, a rating that is not a number) passes no
     * comparison: the filter asks for rows that have it. */
    double x = f->field == FR_FIELD_TIMESTAMP ? row->ts : row->value, y = f->num;
    if (isnan(x))
        return 0;
    switch (f->op) {
    case FR_OP_EQ: return x == y;
    case FR_OP_NE: return x != y;
    case FR_OP_LT: return x < y;
    case FR_OP_LE: return x <= y;
    case FR_OP_GT: return x > y;
    default: return x >= y;
    }
}

/* ------------------------------------------------------------------ dedupe */

typedef struct dup_key {
    int32_t user, item;
    double ts;
    long idx;
} dup_key;

/* A total order: NaN times sort after the others (and are never equal to anything,
 * so never duplicates); equal keys keep file order. */
static int by_event(const void *a, const void *b)
{
    const dup_key *x = a, *y = b;
    if (x->user != y->user)
        return x->user < y->user ? -1 : 1;
    if (x->item != y->item)
        return x->item < y->item ? -1 : 1;
    int xn = isnan(x->ts), yn = isnan(y->ts);
    if (xn != yn)
        return xn - yn;
    if (!xn && x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

static fr_status dedupe(fr_data_load *ld)
{
    fr_data_report *rep = &ld->ds->report;
    dup_key *k = malloc((size_t)ld->n * sizeof *k);
    long *orig = malloc((size_t)ld->n * sizeof *orig), w = 0;
    char why[160];
    if (!k || !orig) {
        free(k);
        free(orig);
        return fr_fail(ld->err, FR_ENOMEM, "out of memory to deduplicate %ld events", ld->n);
    }
    for (long e = 0; e < ld->n; e++) {
        k[e] = (dup_key){ld->ev[e].user, ld->ev[e].item, ld->ev[e].ts, e};
        orig[e] = -1;
    }
    qsort(k, (size_t)ld->n, sizeof *k, by_event);
    for (long i = 1, first = 0; i < ld->n; i++) {
        if (k[i].user == k[first].user && k[i].item == k[first].item && k[i].ts == k[first].ts)
            orig[k[i].idx] = ld->ev[k[first].idx].line;
        else
            first = i;
    }
    for (long e = 0; e < ld->n; e++) {
        if (orig[e] < 0) {
            ld->ev[w++] = ld->ev[e];
            continue;
        }
        int want = fr_data_skip_wants_why(rep, FR_SKIP_DUPLICATE, ld->ev[e].line);
        if (want)
            snprintf(why, sizeof why, "same user, item and timestamp as line %ld", orig[e]);
        fr_data_skip_note(rep, FR_SKIP_DUPLICATE, ld->ev[e].line, want ? why : NULL);
    }
    ld->n = w;
    free(k);
    free(orig);
    return FR_OK;
}

/* ------------------------------------------------------------------ k-core */

static void kcore_why(const fr_data_load *ld, const fr_data_event *e, const long *ucnt,
                      const long *icnt, char *why, size_t cap)
{
    char shown[41];
    const fr_data_keys *k = ucnt[e->user] < ld->opt.min_user_events ? &ld->users : &ld->items;
    int user = k == &ld->users;
    long idx = user ? e->user : e->item;
    const char *s = k->text + k->off[idx];
    fr_data_show(shown, s, strlen(s));
    snprintf(why, cap, "%s '%s' has %ld events, fewer than --min-%s-events %d",
             user ? "user" : "item", shown, user ? ucnt[idx] : icnt[idx], user ? "user" : "item",
             user ? ld->opt.min_user_events : ld->opt.min_item_events);
}

/* Rounds until stable: dropping a user's events can take an item under its minimum
 * and the other way round. Each round is one pass over the events. */
static fr_status kcore(fr_data_load *ld)
{
    fr_data_report *rep = &ld->ds->report;
    long *ucnt = malloc((size_t)(ld->users.n ? ld->users.n : 1) * sizeof *ucnt);
    long *icnt = malloc((size_t)(ld->items.n ? ld->items.n : 1) * sizeof *icnt);
    int mu = ld->opt.min_user_events, mi = ld->opt.min_item_events;
    char why[160];
    fr_status st = FR_OK;
    if (!ucnt || !icnt) {
        st = fr_fail(ld->err, FR_ENOMEM, "out of memory for the k-core counts");
        goto out;
    }
    for (long dropped = 1; dropped;) {
        long w = 0;
        dropped = 0;
        memset(ucnt, 0, (size_t)ld->users.n * sizeof *ucnt);
        memset(icnt, 0, (size_t)ld->items.n * sizeof *icnt);
        for (long e = 0; e < ld->n; e++) {
            ucnt[ld->ev[e].user]++;
            icnt[ld->ev[e].item]++;
        }
        for (long e = 0; e < ld->n; e++) {
            const fr_data_event *ev = &ld->ev[e];
            if (ucnt[ev->user] >= mu && icnt[ev->item] >= mi) {
                ld->ev[w++] = *ev;
                continue;
            }
            int want = fr_data_skip_wants_why(rep, FR_SKIP_K_CORE, ev->line);
            if (want)
                kcore_why(ld, ev, ucnt, icnt, why, sizeof why);
            fr_data_skip_note(rep, FR_SKIP_K_CORE, ev->line, want ? why : NULL);
            dropped++;
        }
        ld->n = w;
        rep->k_core_rounds += dropped > 0;
    }
out:
    free(ucnt);
    free(icnt);
    return st;
}

fr_status fr_clean_events(fr_data_load *ld)
{
    fr_status st = FR_OK;
    if (ld->opt.dedupe && ld->n > 1 && (st = dedupe(ld)) != FR_OK)
        return st;
    if ((ld->opt.min_user_events > 1 || ld->opt.min_item_events > 1) && ld->n > 0)
        st = kcore(ld);
    return st;
}
