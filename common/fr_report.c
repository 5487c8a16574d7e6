/* JSON report helpers (see fr_report.h). */
#include "fr_report.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

json_t *fr_report_metrics(const fr_metrics *m)
{
    json_t *o = json_pack("{s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f}", "hr@10",
                          m->hr10, "ndcg@10", m->ndcg10, "recall@10", m->recall10, "recall@50",
                          m->recall50, "precision@10", m->precision10, "precision@50",
                          m->precision50, "ndcg_full@10", m->ndcg_full10, "ndcg_full@50",
                          m->ndcg_full50, "mrr", m->mrr, "coverage@10", m->coverage10,
                          "novelty@10", m->novelty10);
    json_object_set_new(o, "coverage@50", json_real(m->coverage50));
    json_object_set_new(o, "novelty@50", json_real(m->novelty50));
    json_object_set_new(o, "users", json_integer(m->users));
    json_object_set_new(o, "sampled_users", json_integer(m->sampled_users));
    return o;
}

json_t *fr_report_data(const fr_dataset *ds, long windows, long positions)
{
    json_t *lines = json_array();
    for (int i = 0; i < ds->report.n_bad_lines; i++)
        json_array_append_new(lines, json_integer(ds->report.bad_lines[i]));
    return json_pack("{s:i, s:i, s:I, s:I, s:I, s:o, s:I, s:i, s:I, s:I}", "users", ds->num_users,
                     "items", ds->num_items - 1, "interactions", (json_int_t)ds->interactions,
                     "rows_read", (json_int_t)ds->report.rows_read, "rows_skipped",
                     (json_int_t)ds->report.rows_skipped, "skipped_lines", lines,
                     "items_with_content", (json_int_t)ds->items_with_content, "eval_users",
                     ds->num_eval_users, "train_sequences", (json_int_t)windows, "train_positions",
                     (json_int_t)positions);
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
