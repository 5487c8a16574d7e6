/* The data report in words: names of the skip reasons and the compact lines that
 * train and eval print (the JSON form is fr_report_data). */
#include <string.h>

#include "data/fr_data.h"

static const char *const skip_names[FR_SKIP_COUNT] = {
    "malformed",    "bad_id",       "bad_timestamp", "bad_value", "timestamp_range",
    "event_filter", "unknown_item", "duplicate",     "k_core",
};

const char *fr_skip_name(fr_skip reason)
{
    return reason >= 0 && reason < FR_SKIP_COUNT ? skip_names[reason] : "unknown";
}

/* " at lines 3, 4, 9, ...": the remembered line numbers, "..." when there are more. */
static void line_list(char *buf, size_t cap, const long *lines, int n, long count)
{
    size_t at = (size_t)snprintf(buf, cap, n == 1 ? " at line" : " at lines");
    for (int i = 0; i < n && at < cap; i++)
        at += (size_t)snprintf(buf + at, cap - at, "%s %ld", i ? "," : "", lines[i]);
    if (count > n && at < cap)
        snprintf(buf + at, cap - at, ", ...");
}

void fr_data_report_print(const fr_data_report *rep, const char *prefix, FILE *out)
{
    char lines[128];
    if (rep->events_file[0]) {
        fprintf(out, "%sread    %s (%ld rows)", prefix, rep->events_file, rep->rows_read);
        if (rep->content_file[0])
            fprintf(out, ", %s (%ld rows)", rep->content_file, rep->content_rows);
        fputc('\n', out);
    }
    for (int r = 0; r < FR_SKIP_COUNT; r++) {
        const fr_data_skips *s = &rep->skipped[r];
        if (!s->count)
            continue;
        line_list(lines, sizeof lines, s->lines, s->n_lines, s->count);
        fprintf(out, "%sskipped %-15s %8ld row%s%s", prefix, skip_names[r], s->count,
                s->count == 1 ? "" : "s", lines);
        if (r == FR_SKIP_K_CORE)
            fprintf(out, " (%d round%s)", rep->k_core_rounds, rep->k_core_rounds == 1 ? "" : "s");
        fprintf(out, "%s%s\n", s->why[0] ? ": " : "", s->why);
    }
    if (rep->content_skipped) {
        line_list(lines, sizeof lines, rep->content_lines, rep->n_content_lines,
                  rep->content_skipped);
        fprintf(out, "%sskipped %-15s %8ld row%s of %s%s\n", prefix, "content",
                rep->content_skipped, rep->content_skipped == 1 ? "" : "s", rep->content_file,
                lines);
    }
    if (rep->value_count)
        fprintf(out, "%svalues  %ld, mean %.4f, std %.4f (kept as z-scores)\n", prefix,
                rep->value_count, rep->value_mean, rep->value_std);
}
