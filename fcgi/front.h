/*
 * front.h - imaginator-fcgi's group of settings ("fcgi = { ... }"), shared
 * by imaginator-fcgi and `imaginator config check` (options.c).
 */
#ifndef IMA_FCGI_FRONT_H
#define IMA_FCGI_FRONT_H

#include "ima_core.h"

#define IMA_FCGI_MAX_WORKERS 256

extern const struct ima_front ima_fcgi_front;

/* Checks a listen address: "" (the inherited socket), a unix socket path,
 * or a port 1-65535 with an optional host. 0, or -1 with err. */
int ima_fcgi_listen_check(const char *spec, struct ima_error *err);
/* unix:PATH or /PATH. */
bool ima_fcgi_listen_is_unix(const char *spec);
/* HOST:PORT, :PORT or PORT ([::1]:PORT for IPv6) into host (127.0.0.1
 * when none: never every address) and port. 0, or -1 with err. */
int ima_fcgi_split_tcp(const char *spec, char *host, size_t size, char port[6],
		       struct ima_error *err);

/* Parses text (decimal) as the integer setting name of the table, within
 * its range, for the command line and the environment. 0, or -1. */
int ima_fcgi_int(const char *name, const char *text, int *out);
/* Parses an octal file mode ("0660", at most 0777). 0, or -1. */
int ima_fcgi_socket_mode(const char *s, unsigned *mode);

#endif /* IMA_FCGI_FRONT_H */
