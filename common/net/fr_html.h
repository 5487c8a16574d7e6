/* Writing HTML pages from state that may hold what a peer sent: text escaped on the
 * way out, and line charts drawn as inline SVG, so that a page needs no script, no
 * style sheet and nothing fetched from elsewhere (the operator's dashboard). */
#ifndef FR_HTML_H
#define FR_HTML_H

#include <stdio.h>

/* Write s to out with &, <, >, " and ' as entities and other control characters as
 * '?', so that the text is safe in an element or a quoted attribute. NULL writes
 * nothing. */
void fr_html_text(FILE *out, const char *s);

/* printf, then fr_html_text of the result (cut to 1023 bytes). */
void fr_html_textf(FILE *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* One line of a chart: n points (x[i], y[i]); a NaN y is a gap. */
typedef struct fr_html_series {
    const char *label;
    const char *color; /* an SVG colour such as "#1f77b4"; trusted, not escaped */
    const double *x, *y;
    int n;
} fr_html_series;

/* An SVG line chart of width x height pixels: axes with their lowest and highest
 * values, a polyline and a dot per point for each series, a legend, and a title.
 * The y axis starts at 0 when every value is >= 0 (y_from_zero). A chart without
 * points says so instead of drawing axes. */
void fr_html_line_chart(FILE *out, const char *title, const char *x_label,
                        const fr_html_series *series, int n_series, int width, int height,
                        int y_from_zero);

/* An SVG bar chart: one bar per x (drawn at its value y[i]) with the value above it. */
void fr_html_bar_chart(FILE *out, const char *title, const char *x_label,
                       const fr_html_series *series, int width, int height);

#endif
