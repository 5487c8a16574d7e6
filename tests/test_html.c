/* Tests of the HTML helpers behind the operator's dashboard: escaping of text that
 * comes from peers, and the SVG charts (a dot per finite point, a gap per NaN, every
 * coordinate inside the picture, labels escaped, an empty chart that says so). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/fr_html.h"
#include "fr_test.h"

/* What fn wrote, as a malloc'd string. */
#define CAPTURE(buf, call)                                                                         \
    do {                                                                                           \
        size_t len_ = 0;                                                                           \
        FILE *out = open_memstream(&(buf), &len_);                                                 \
        call;                                                                                      \
        fclose(out);                                                                               \
    } while (0)

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

static void test_escape(void)
{
    char *s = NULL;
    CAPTURE(s, fr_html_text(out, "<script>alert(\"x\")</script> & 'q'\n\x01ok"));
    const char *want = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;q&#39;??ok";
    CHECK(!strcmp(s, want), "got '%s'", s);
    free(s);
    s = NULL;
    CAPTURE(s, fr_html_text(out, NULL));
    CHECK(!strcmp(s, ""), "NULL wrote '%s'", s);
    free(s);
    s = NULL;
    /* UTF-8 passes through unchanged */
    CAPTURE(s, fr_html_textf(out, "%s=%d", "caf\xc3\xa9<", 3));
    CHECK(!strcmp(s, "caf\xc3\xa9&lt;=3"), "got '%s'", s);
    free(s);
}

/* Every x= / cx= / y= / cy= value must lie inside width x height. */
static int inside(const char *svg, int width, int height)
{
    static const char *const keys[] = {" x=\"", " cx=\"", " x1=\"", " x2=\"",
                                       " y=\"", " cy=\"", " y1=\"", " y2=\""};
    for (int k = 0; k < 8; k++) {
        int is_x = k < 4;
        for (const char *p = strstr(svg, keys[k]); p; p = strstr(p + 1, keys[k])) {
            double v = strtod(p + strlen(keys[k]), NULL);
            if (v < 0 || v > (is_x ? width : height))
                return 0;
        }
    }
    /* and every polyline point */
    for (const char *p = strstr(svg, "points=\""); p; p = strstr(p + 1, "points=\"")) {
        const char *q = p + 8;
        while (*q && *q != '"') {
            char *end;
            double x = strtod(q, &end);
            if (*end != ',')
                return 0;
            double y = strtod(end + 1, &end);
            if (x < 0 || x > width || y < 0 || y > height)
                return 0;
            q = end;
            while (*q == ' ')
                q++;
        }
    }
    return 1;
}

static void test_line_chart(void)
{
    double x[5] = {1, 2, 3, 4, 5}, hr[5] = {0.1, 0.2, NAN, 0.35, 0.4},
           loss[5] = {5.1, 4.0, 3.2, 3.0, 2.9};
    fr_html_series s[2] = {{"HR@10 <a>", "#1f77b4", x, hr, 5}, {"loss", "#d62728", x, loss, 5}};
    char *svg = NULL;
    CAPTURE(svg, fr_html_line_chart(out, "quality & loss", "round", s, 2, 600, 240, 1));
    CHECK(!strncmp(svg, "<svg ", 5), "not an svg: %.40s", svg);
    CHECK(strstr(svg, "</svg>") != NULL, "unterminated");
    CHECK(count(svg, "<circle") == 9, "%d dots, want 9 (one NaN)", count(svg, "<circle"));
    CHECK(count(svg, "<polyline") == 3, "%d polylines, want 3 (the NaN splits one)",
          count(svg, "<polyline"));
    CHECK(strstr(svg, "HR@10 &lt;a&gt;") != NULL, "label not escaped");
    CHECK(strstr(svg, "<a>") == NULL, "raw label in the output");
    CHECK(strstr(svg, "quality &amp; loss") != NULL, "title not escaped");
    CHECK(inside(svg, 600, 240), "a coordinate outside the picture");
    /* the highest value is drawn higher than the lowest */
    CHECK(strstr(svg, "loss 1: 5.1") && strstr(svg, "loss 5: 2.9"), "point titles missing");
    free(svg);
}

static void test_empty_and_flat(void)
{
    char *svg = NULL;
    fr_html_series none = {"x", "#000", NULL, NULL, 0};
    CAPTURE(svg, fr_html_line_chart(out, "t", "round", &none, 1, 300, 200, 1));
    CHECK(strstr(svg, "no data yet") != NULL, "empty chart does not say so");
    CHECK(count(svg, "<circle") == 0, "dots in an empty chart");
    free(svg);
    svg = NULL;
    /* one point, a flat line: no division by a zero range */
    double x[1] = {7}, y[1] = {2};
    fr_html_series one = {"one", "#000", x, y, 1};
    CAPTURE(svg, fr_html_line_chart(out, "t", "round", &one, 1, 300, 200, 0));
    CHECK(count(svg, "<circle") == 1, "one point, %d dots", count(svg, "<circle"));
    CHECK(strstr(svg, "nan") == NULL && strstr(svg, "inf") == NULL, "non-finite coordinate");
    CHECK(inside(svg, 300, 200), "a coordinate outside the picture");
    free(svg);
}

static void test_bar_chart(void)
{
    double x[4] = {1, 2, 3, 4}, y[4] = {3, 3, 2, 3};
    fr_html_series s = {"nodes", "#2ca02c", x, y, 4};
    char *svg = NULL;
    CAPTURE(svg, fr_html_bar_chart(out, "nodes per round", "round", &s, 600, 200));
    /* the background and one bar per round */
    CHECK(count(svg, "<rect") == 5, "%d rects, want 5", count(svg, "<rect"));
    CHECK(strstr(svg, "nodes 3: 2") != NULL, "bar of round 3 missing");
    CHECK(inside(svg, 600, 200), "a coordinate outside the picture");
    free(svg);
}

int main(void)
{
    RUN(test_escape);
    RUN(test_line_chart);
    RUN(test_empty_and_flat);
    RUN(test_bar_chart);
    return fr_test_end();
}
