/* Escaped HTML text and inline SVG charts (see fr_html.h). Charts are drawn with
 * fixed margins; values are printed with %g so that a page is stable for a given
 * state, which keeps it comparable from one refresh to the next. */
#include "net/fr_html.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>

void fr_html_text(FILE *out, const char *s)
{
    if (!s)
        return;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '&': fputs("&amp;", out); break;
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '"': fputs("&quot;", out); break;
        case '\'': fputs("&#39;", out); break;
        default: fputc(*p < 0x20 || *p == 0x7f ? '?' : *p, out); break;
        }
    }
}

void fr_html_textf(FILE *out, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    fr_html_text(out, buf);
}

enum { MARGIN_L = 60, MARGIN_R = 16, MARGIN_T = 30, MARGIN_B = 40 };

typedef struct frame {
    double x0, x1, y0, y1; /* data ranges */
    double px, py, pw, ph; /* the plot area in pixels */
} frame;

static double sx(const frame *f, double x)
{
    return f->px + (x - f->x0) / (f->x1 - f->x0) * f->pw;
}

static double sy(const frame *f, double y)
{
    return f->py + f->ph - (y - f->y0) / (f->y1 - f->y0) * f->ph;
}

/* Data ranges over the finite points; 0 when there are none. */
static int ranges(const fr_html_series *s, int n, frame *f, int y_from_zero)
{
    int points = 0;
    f->x0 = f->y0 = INFINITY;
    f->x1 = f->y1 = -INFINITY;
    for (int k = 0; k < n; k++)
        for (int i = 0; i < s[k].n; i++) {
            if (!isfinite(s[k].x[i]) || !isfinite(s[k].y[i]))
                continue;
            points++;
            f->x0 = fmin(f->x0, s[k].x[i]);
            f->x1 = fmax(f->x1, s[k].x[i]);
            f->y0 = fmin(f->y0, s[k].y[i]);
            f->y1 = fmax(f->y1, s[k].y[i]);
        }
    if (!points)
        return 0;
    if (y_from_zero && f->y0 >= 0)
        f->y0 = 0;
    if (f->x1 - f->x0 < 1e-12) {
        f->x0 -= 1;
        f->x1 += 1;
    }
    double span = f->y1 - f->y0;
    if (span < 1e-12)
        span = fabs(f->y1) > 1e-12 ? fabs(f->y1) : 1;
    f->y1 += 0.08 * span;
    if (!(y_from_zero && f->y0 == 0))
        f->y0 -= 0.08 * span;
    return points;
}

static void open_svg(FILE *out, const char *title, int width, int height)
{
    fprintf(out,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\" role=\"img\" font-family=\"sans-serif\" font-size=\"11\">"
            "<title>",
            width, height, width, height);
    fr_html_text(out, title);
    fprintf(out,
            "</title><rect width=\"%d\" height=\"%d\" fill=\"#fff\"/>"
            "<text x=\"%d\" y=\"18\" font-size=\"13\" font-weight=\"bold\">",
            width, height, MARGIN_L);
    fr_html_text(out, title);
    fputs("</text>", out);
}

/* Grid and y labels over f; x labels placed by fx (the same frame but for a bar
 * chart, whose bars sit half a slot inside the plot's ends). */
static void axes(FILE *out, const frame *f, const frame *fx, const char *x_label, int integral_x)
{
    /* five horizontal grid lines, labelled with one digit more than their step needs,
     * so that neighbours never read the same */
    double step = (f->y1 - f->y0) / 4.0;
    int decimals = step >= 1 ? 0 : (int)ceil(-log10(step)) + 1;
    if (decimals > 6)
        decimals = 6;
    for (int i = 0; i <= 4; i++) {
        double v = f->y0 + step * i, y = sy(f, v);
        fprintf(out,
                "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.*f</text>",
                f->px, y, f->px + f->pw, y, f->px - 4, y + 4, decimals, v);
    }
    fprintf(out,
            "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>"
            "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>",
            f->px, f->py, f->px, f->py + f->ph, f->px, f->py + f->ph, f->px + f->pw, f->py + f->ph);
    /* the ends of the x axis and its middle */
    for (int i = 0; i <= 2; i++) {
        double v = f->x0 + (f->x1 - f->x0) * i / 2.0;
        if (integral_x && fabs(v - round(v)) > 1e-9)
            continue;
        fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.6g</text>", sx(fx, v),
                f->py + f->ph + 14, v);
    }
    fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" fill=\"#555\">",
            f->px + f->pw / 2, f->py + f->ph + 32);
    fr_html_text(out, x_label);
    fputs("</text>", out);
}

static int all_integral(const fr_html_series *s, int n)
{
    for (int k = 0; k < n; k++)
        for (int i = 0; i < s[k].n; i++)
            if (isfinite(s[k].x[i]) && fabs(s[k].x[i] - round(s[k].x[i])) > 1e-9)
                return 0;
    return 1;
}

static void no_points(FILE *out, int width, int height)
{
    fprintf(out,
            "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" fill=\"#777\">no data yet</text>"
            "</svg>\n",
            width / 2, height / 2);
}

void fr_html_line_chart(FILE *out, const char *title, const char *x_label,
                        const fr_html_series *series, int n_series, int width, int height,
                        int y_from_zero)
{
    frame f = {.px = MARGIN_L,
               .py = MARGIN_T,
               .pw = width - MARGIN_L - MARGIN_R,
               .ph = height - MARGIN_T - MARGIN_B};
    open_svg(out, title, width, height);
    if (!ranges(series, n_series, &f, y_from_zero)) {
        no_points(out, width, height);
        return;
    }
    axes(out, &f, &f, x_label, all_integral(series, n_series));
    for (int k = 0; k < n_series; k++) {
        const fr_html_series *s = &series[k];
        /* a NaN ends one polyline; the next point starts another */
        int open = 0;
        for (int i = 0; i < s->n; i++) {
            int good = isfinite(s->x[i]) && isfinite(s->y[i]);
            if (good && !open) {
                fprintf(out, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"",
                        s->color);
                open = 1;
            } else if (!good && open) {
                fputs("\"/>", out);
                open = 0;
            }
            if (good)
                fprintf(out, "%.1f,%.1f ", sx(&f, s->x[i]), sy(&f, s->y[i]));
        }
        if (open)
            fputs("\"/>", out);
        for (int i = 0; i < s->n; i++) {
            if (!isfinite(s->x[i]) || !isfinite(s->y[i]))
                continue;
            fprintf(out, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"><title>",
                    sx(&f, s->x[i]), sy(&f, s->y[i]), s->color);
            fr_html_text(out, s->label);
            fprintf(out, " %.6g: %.4g</title></circle>", s->x[i], s->y[i]);
        }
        /* legend, top right, one row per series */
        double lx = f.px + f.pw - 130, ly = MARGIN_T + 4 + 14.0 * k;
        fprintf(out,
                "<rect x=\"%.1f\" y=\"%.1f\" width=\"10\" height=\"10\" fill=\"%s\"/>"
                "<text x=\"%.1f\" y=\"%.1f\">",
                lx, ly, s->color, lx + 14, ly + 9);
        fr_html_text(out, s->label);
        fputs("</text>", out);
    }
    fputs("</svg>\n", out);
}

void fr_html_bar_chart(FILE *out, const char *title, const char *x_label, const fr_html_series *s,
                       int width, int height)
{
    frame f = {.px = MARGIN_L,
               .py = MARGIN_T,
               .pw = width - MARGIN_L - MARGIN_R,
               .ph = height - MARGIN_T - MARGIN_B};
    open_svg(out, title, width, height);
    if (!ranges(s, 1, &f, 1)) {
        no_points(out, width, height);
        return;
    }
    /* counts get whole-numbered grid lines: the top rounded up to four steps */
    int counts = 1;
    for (int i = 0; i < s->n; i++)
        counts &= !isfinite(s->y[i]) || (s->y[i] >= 0 && fabs(s->y[i] - round(s->y[i])) < 1e-9);
    if (counts)
        f.y1 = 4 * ceil(f.y1 / 4);
    /* half a slot of room at each end, so that the end bars are whole */
    frame bars = f;
    double slot = f.pw / (f.x1 - f.x0 + 1);
    bars.px += slot / 2;
    bars.pw -= slot;
    axes(out, &f, &bars, x_label, all_integral(s, 1));
    double bw = slot * 0.7;
    for (int i = 0; i < s->n; i++) {
        if (!isfinite(s->x[i]) || !isfinite(s->y[i]))
            continue;
        double x = sx(&bars, s->x[i]), y = sy(&f, s->y[i]), base = sy(&f, f.y0);
        fprintf(out,
                "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"><title>",
                x - bw / 2, y, bw, base - y, s->color);
        fr_html_text(out, s->label);
        fprintf(out, " %.6g: %.6g</title></rect>", s->x[i], s->y[i]);
        if (bw >= 12)
            fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.6g</text>", x, y - 3,
                    s->y[i]);
    }
    fputs("</svg>\n", out);
}
