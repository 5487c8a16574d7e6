/* Proposals from the edge on the dashboard (docs/catalogue.md): the item ids the live
 * nodes report that the catalogue lacks, merged over the nodes (how many nodes name
 * each, and their events in all), so that the operator sees what to add with
 * `fedrecall-coordinator catalogue add`; their counts also in /v1/status and
 * /metrics. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fr_coord.h"
#include "net/fr_html.h"

#define SHOWN 50

typedef struct merged {
    const char *id;
    long events;
    int nodes;
} merged;

static int by_nodes(const void *a, const void *b)
{
    const merged *x = a, *y = b;
    if (x->nodes != y->nodes)
        return x->nodes > y->nodes ? -1 : 1;
    if (x->events != y->events)
        return x->events > y->events ? -1 : 1;
    return strcmp(x->id, y->id);
}

fr_status fr_coord_proposals_take(fr_coord_live *l, const fr_proto_bin *b, fr_err *err)
{
    fr_proposal tmp[FR_PROPOSALS_MAX];
    int n = 0;
    fr_status st = fr_proposals_parse(b->p, b->len, tmp, &n, err);
    if (st != FR_OK)
        return st;
    fr_proposal *keep = n ? malloc((size_t)n * sizeof *keep) : NULL;
    if (n && !keep)
        return fr_fail(err, FR_ENOMEM, "out of memory for proposals");
    if (n)
        memcpy(keep, tmp, (size_t)n * sizeof *keep);
    free(l->proposals);
    l->proposals = keep;
    l->n_proposals = n;
    return FR_OK;
}

/* The live nodes' proposals merged by id, most nodes first (*out malloc'd; NULL with
 * none or out of memory); also how many nodes propose anything. */
static int merge(const fr_coord *c, merged **out, int *nodes)
{
    int total = 0;
    *nodes = 0;
    for (int i = 0; i < c->n_live; i++) {
        total += c->live[i].n_proposals;
        *nodes += c->live[i].n_proposals > 0;
    }
    merged *m = total ? calloc((size_t)total, sizeof *m) : NULL;
    int n = 0;
    for (int i = 0; m && i < c->n_live; i++)
        for (int k = 0; k < c->live[i].n_proposals; k++) {
            const fr_proposal *p = &c->live[i].proposals[k];
            int j = 0;
            while (j < n && strcmp(m[j].id, p->id))
                j++;
            if (j == n)
                m[n++] = (merged){p->id, 0, 0};
            m[j].events += p->count;
            m[j].nodes++;
        }
    if (n)
        qsort(m, (size_t)n, sizeof *m, by_nodes);
    *out = m;
    return n;
}

json_t *fr_coord_proposals_json(const fr_coord *c, int detail)
{
    merged *m = NULL;
    int nodes = 0, n = merge(c, &m, &nodes);
    long events = 0;
    for (int j = 0; j < n; j++)
        events += m[j].events;
    json_t *o =
        json_pack("{s:i, s:i, s:I}", "items", n, "nodes", nodes, "events", (json_int_t)events);
    if (detail && o) {
        /* for operators: the ids most nodes name, as on the dashboard */
        json_t *top = json_array();
        for (int j = 0; top && j < n && j < SHOWN; j++)
            json_array_append_new(top, json_pack("{s:s, s:i, s:I}", "id", m[j].id, "nodes",
                                                 m[j].nodes, "events", (json_int_t)m[j].events));
        json_object_set_new(o, "top", top);
    }
    free(m);
    return o;
}

void fr_coord_proposals_prometheus(FILE *f, const fr_coord *c)
{
    merged *m = NULL;
    int nodes = 0, n = merge(c, &m, &nodes);
    long events = 0;
    for (int j = 0; j < n; j++)
        events += m[j].events;
    free(m);
    int live = 0;
    for (int r = 1; r < c->model.cfg.num_items; r++)
        live += !fr_model_retired(&c->model, r);
    fprintf(f,
            "# HELP fedrecall_catalogue_version Catalogue version of the served model.\n"
            "# TYPE fedrecall_catalogue_version gauge\nfedrecall_catalogue_version %ld\n"
            "# HELP fedrecall_catalogue_items Item rows of the served model's catalogue.\n"
            "# TYPE fedrecall_catalogue_items gauge\n"
            "fedrecall_catalogue_items{state=\"live\"} %d\n"
            "fedrecall_catalogue_items{state=\"retired\"} %d\n"
            "# HELP fedrecall_proposed_items Distinct item ids the live nodes propose (ids "
            "their data names and the catalogue lacks).\n"
            "# TYPE fedrecall_proposed_items gauge\nfedrecall_proposed_items %d\n"
            "# HELP fedrecall_proposing_nodes Live nodes that propose at least one id.\n"
            "# TYPE fedrecall_proposing_nodes gauge\nfedrecall_proposing_nodes %d\n"
            "# HELP fedrecall_proposed_events Events on the proposed ids, summed over the "
            "nodes.\n"
            "# TYPE fedrecall_proposed_events gauge\nfedrecall_proposed_events %ld\n",
            c->model.catalogue_version, live, c->model.cfg.num_items - 1 - live, n, nodes, events);
}

void fr_coord_proposals_html(FILE *f, fr_coord *c)
{
    fprintf(f,
            "<h2>Items proposed by the nodes</h2><div class=\"sub\">catalogue version %ld, %d "
            "item rows; ids that nodes' data names and the catalogue lacks, from nodes run "
            "with propose-unknown-items (counts of events only)</div>\n",
            c->model.catalogue_version, c->model.cfg.num_items - 1);
    merged *m = NULL;
    int nodes = 0, n = merge(c, &m, &nodes);
    fputs("<table id=\"proposals\"><tr><th>item id</th><th>nodes</th><th>events</th></tr>\n", f);
    for (int j = 0; j < n && j < SHOWN; j++) {
        fputs("<tr><td>", f);
        fr_html_text(f, m[j].id);
        fprintf(f, "</td><td>%d</td><td>%ld</td></tr>\n", m[j].nodes, m[j].events);
    }
    if (!n)
        fputs("<tr><td colspan=\"3\">none</td></tr>\n", f);
    fputs("</table>\n", f);
    free(m);
}
