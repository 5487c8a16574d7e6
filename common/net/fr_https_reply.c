/* The request and reply helpers of the HTTPS server's handlers (see fr_https.h): thin
 * wrappers over evhttp, so that handlers include no libevent header, and the one place
 * where a reply's content type and a text reply's control characters are settled. */
#include "net/fr_https.h"

#include <stdarg.h>
#include <stdio.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#define REPLY_TEXT_MAX 500

void fr_https_add_header(struct evhttp_request *req, const char *name, const char *value)
{
    evhttp_add_header(evhttp_request_get_output_headers(req), name, value);
}

const char *fr_https_header(struct evhttp_request *req, const char *name)
{
    return evhttp_find_header(evhttp_request_get_input_headers(req), name);
}

static void set_type(struct evhttp_request *req, const char *content_type)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_remove_header(h, "Content-Type");
    evhttp_add_header(h, "Content-Type", content_type ? content_type : "application/octet-stream");
}

void fr_https_reply(struct evhttp_request *req, int code, const char *content_type,
                    const void *body, size_t len)
{
    struct evbuffer *out = evhttp_request_get_output_buffer(req);
    set_type(req, content_type);
    if (len && evbuffer_add(out, body, len) != 0) {
        evbuffer_drain(out, evbuffer_get_length(out));
        code = 500;
    }
    evhttp_send_reply(req, code, NULL, NULL);
}

void fr_https_reply_ref(struct evhttp_request *req, int code, const char *content_type,
                        const void *body, size_t len,
                        void (*cleanup)(const void *body, size_t len, void *arg), void *arg)
{
    struct evbuffer *out = evhttp_request_get_output_buffer(req);
    set_type(req, content_type);
    if (evbuffer_add_reference(out, body, len, cleanup, arg) != 0) {
        if (cleanup)
            cleanup(body, len, arg);
        code = 500;
    }
    evhttp_send_reply(req, code, NULL, NULL);
}

void fr_https_reply_text(struct evhttp_request *req, int code, const char *fmt, ...)
{
    char line[REPLY_TEXT_MAX + 2];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, REPLY_TEXT_MAX + 1, fmt, ap);
    va_end(ap);
    size_t len = n < 0 ? 0 : (size_t)n > REPLY_TEXT_MAX ? REPLY_TEXT_MAX : (size_t)n;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
            line[i] = '?';
    line[len++] = '\n';
    fr_https_reply(req, code, "text/plain; charset=utf-8", line, len);
}

const uint8_t *fr_https_body(struct evhttp_request *req, size_t *len)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t n = in ? evbuffer_get_length(in) : 0;
    const uint8_t *p = n ? evbuffer_pullup(in, -1) : NULL;
    *len = p ? n : 0;
    return p;
}

const char *fr_https_path(struct evhttp_request *req)
{
    const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
    return u ? evhttp_uri_get_path(u) : NULL;
}

int fr_https_method(struct evhttp_request *req)
{
    switch (evhttp_request_get_command(req)) {
    case EVHTTP_REQ_GET: return FR_HTTPS_GET;
    case EVHTTP_REQ_POST: return FR_HTTPS_POST;
    default: return 0;
    }
}
