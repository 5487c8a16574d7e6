/* Log lines of the long-running programs: a UTC time stamp, who speaks, the message.
 * One line each, written whole and flushed, so that lines of concurrent processes
 * sharing a file stay apart. Never pass secrets. */
#ifndef FR_LOG_H
#define FR_LOG_H

#include <stdarg.h>
#include <stdio.h>

void fr_logv(FILE *out, const char *who, const char *fmt, va_list ap);

#endif
