/* JSON report helpers (see fr_report.h). */
#include "eval/fr_report.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

json_t *fr_report_metrics(const fr_metrics *m)
{
    json_t *o =
        json_pack("{s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f}", "hr@10", m->hr10,
                  "ndcg@10", m->ndcg10, "recall@10", m->recall10, "recall@50", m->recall50,
                  "precision@10", m->precision10, "precision@50", m->precision50, "ndcg_full@10",
                  m->ndcg_full10, "ndcg_full@50", m->ndcg_full50, "mrr", m->mrr, "coverage@10",
                  m->coverage10, "novelty@10", m->novelty10);
    json_object_set_new(o, "coverage@50", json_real(m->coverage50));
    json_object_set_new(o, "novelty@50", json_real(m->novelty50));
    json_object_set_new(o, "users", json_integer(m->users));
    json_object_set_new(o, "sampled_users", json_integer(m->sampled_users));
    return o;
}

static json_t *line_array(const long *lines, int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(a, json_integer(lines[i]));
    return a;
}

/* A JSON string; a path that is not UTF-8 cannot be one and is said so instead. */
static json_t *text(const char *s)
{
    json_t *j = s && s[0] ? json_string(s) : json_null();
    return j ? j : json_string("(not UTF-8)");
}

json_t *fr_report_data(const fr_dataset *ds, long windows, long positions)
{
    const fr_data_report *r = &ds->report;
    json_t *skipped = json_object();
    for (int k = 0; k < FR_SKIP_COUNT; k++) {
        const fr_data_skips *s = &r->skipped[k];
        json_object_set_new(skipped, fr_skip_name((fr_skip)k),
                            json_pack("{s:I, s:o, s:o}", "count", (json_int_t)s->count, "lines",
                                      line_array(s->lines, s->n_lines), "first", text(s->why)));
    }
    json_t *o = json_pack(
        "{s:i, s:i, s:I, s:I, s:I, s:o, s:I, s:i, s:I, s:I}", "users", ds->num_users, "items",
        ds->num_items - 1, "interactions", (json_int_t)ds->interactions, "rows_read",
        (json_int_t)r->rows_read, "rows_skipped", (json_int_t)r->rows_skipped, "skipped_lines",
        line_array(r->bad_lines, r->n_bad_lines), "items_with_content",
        (json_int_t)ds->items_with_content, "eval_users", ds->num_eval_users, "train_sequences",
        (json_int_t)windows, "train_positions", (json_int_t)positions);
    json_object_set_new(o, "skipped", skipped);
    json_object_set_new(o, "k_core_rounds", json_integer(r->k_core_rounds));
    json_object_set_new(
        o, "files",
        json_pack("{s:o, s:o}", "events", text(r->events_file), "content", text(r->content_file)));
    json_object_set_new(o, "ids",
                        json_pack("{s:s, s:s}", "items",
                                  ds->item_ids_numeric ? "numeric" : "string", "users",
                                  ds->user_ids_numeric ? "numeric" : "string"));
    json_object_set_new(o, "content_rows", json_integer(r->content_rows));
    json_object_set_new(o, "content_skipped", json_integer(r->content_skipped));
    json_object_set_new(o, "content_skipped_lines",
                        line_array(r->content_lines, r->n_content_lines));
    json_object_set_new(o, "values",
                        json_pack("{s:I, s:f, s:f}", "count", (json_int_t)r->value_count, "mean",
                                  r->value_mean, "std", r->value_std));
    return o;
}

fr_status fr_report_write(const json_t *obj, const char *path, fr_err *err)
{
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp)
        return fr_fail(err, FR_EINVAL, "%s: path too long", path);
    if (json_dump_file(obj, tmp, JSON_INDENT(1) | JSON_REAL_PRECISION(10)) != 0)
        return fr_fail(err, FR_EIO, "%s: cannot write: %s", tmp, strerror(errno));
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return fr_fail(err, FR_EIO, "%s: cannot rename into place: %s", path, strerror(e));
    }
    return FR_OK;
}
