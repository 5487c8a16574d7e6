/* Time-stamped log lines (fr_log.h). */
#include "util/fr_log.h"

#include <time.h>

void fr_logv(FILE *out, const char *who, const char *fmt, va_list ap)
{
    char stamp[32], line[1024];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
    vsnprintf(line, sizeof line, fmt, ap);
    fprintf(out, "%s %s: %s\n", stamp, who, line);
    fflush(out);
}
