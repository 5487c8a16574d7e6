/* Proposals from the edge on the dashboard (docs/catalogue.md): the item ids the live
 * nodes report that the catalogue lacks, merged over the nodes (how many nodes name
 * each, and their events in all), so that the operator sees what to add with
 * `fedrecall-coordinator catalogue add`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

void fr_coord_proposals_html(FILE *f, fr_coord *c)
{
    int total = 0;
    for (int i = 0; i < c->n_live; i++)
        total += c->live[i].n_proposals;
    fprintf(f,
            "<h2>Items proposed by the nodes</h2><div class=\"sub\">catalogue version %ld, %d "
            "item rows; ids that nodes' data names and the catalogue lacks, from nodes run "
            "with propose-unknown-items (counts of events only)</div>\n",
            c->model.catalogue_version, c->model.cfg.num_items - 1);
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
    fputs("<table id=\"proposals\"><tr><th>item id</th><th>nodes</th><th>events</th></tr>\n", f);
    if (n)
        qsort(m, (size_t)n, sizeof *m, by_nodes);
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
