/*
 * ima_loader.c - opening plugin files and checking their descriptors.
 *
 * Nothing of a plugin runs before its ABI header has been read and accepted:
 * dlsym gives the address of a const descriptor, of which only the first
 * eight bytes are read until the versions match, and only struct_size bytes
 * after that (Varnish and Redis modules work the same way).
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ima_core.h"

/* Every member of ABI 1.0 ends at fini; older or shorter descriptors are
 * refused rather than half read. */
#define IMA_PLUGIN_MIN_SIZE \
	(offsetof(struct ima_plugin, fini) + sizeof(void (*)(void *)))

struct abi_header {
	uint16_t abi_major;
	uint16_t abi_minor;
	uint32_t struct_size;
};

const char *ima_plugin_dirs(const char *configured)
{
	const char *env = getenv("IMAGINATOR_PLUGIN_DIR");

	if (env != NULL && env[0] != '\0')
		return env;
	if (configured != NULL && configured[0] != '\0')
		return configured;
	return IMA_PLUGINDIR;
}

int ima_plugin_find(const char *dirs, const char *name, char *buf,
		    size_t size)
{
	const char *p = dirs;

	while (p != NULL && *p != '\0') {
		const char *colon = strchr(p, ':');
		size_t n = colon ? (size_t)(colon - p) : strlen(p);

		if (n > 0) {
			snprintf(buf, size, "%.*s/%s.so", (int)n, p, name);
			if (access(buf, R_OK) == 0)
				return 0;
		}
		p = colon ? colon + 1 : NULL;
	}
	snprintf(buf, size, "%s.so", name);
	return -1;
}

static bool option_default_ok(const struct ima_option *o)
{
	const char *v = o->default_value ? o->default_value : "";
	char *end;

	switch (o->type) {
	case IMA_OPT_BOOL:
		return strcmp(v, "true") == 0 || strcmp(v, "false") == 0;
	case IMA_OPT_INT:
		errno = 0;
		(void)strtoll(v, &end, 10);
		return errno == 0 && end != v && *end == '\0';
	case IMA_OPT_DOUBLE:
		errno = 0;
		(void)strtod(v, &end);
		return errno == 0 && end != v && *end == '\0';
	case IMA_OPT_STRING:
		return true;
	}
	return false;
}

int ima_plugin_check_options(const struct ima_plugin *p, struct ima_error *err)
{
	for (const struct ima_option *o = p->options; o && o->name; o++) {
		if (o->type < IMA_OPT_BOOL || o->type > IMA_OPT_STRING)
			return ima_error_set(err, 500, "plugin_invalid", "",
					     "plugin %s: option '%s' has unknown type %d",
					     p->name, o->name, (int)o->type);
		if (!option_default_ok(o))
			return ima_error_set(err, 500, "plugin_invalid", "",
					     "plugin %s: option '%s' has a default that does not parse: '%s'",
					     p->name, o->name,
					     o->default_value ? o->default_value : "(null)");
	}
	return 0;
}

/* Who may own what a plugin is loaded from: root, or the user running us
 * (a developer's build tree, the tests). */
static bool owner_trusted(uid_t uid)
{
	return uid == 0 || uid == geteuid();
}

static int unsafe_path(struct ima_error *err, const char *name, const char *path,
		       const char *what, const char *at, const struct stat *st,
		       const char *why)
{
	return ima_error_set(err, 500, "plugin_unsafe", "",
			     "plugin %s: refusing %s: %s %s is %s (owner uid %u, mode %04o); "
			     "plugins load only from files and directories owned by root or uid %u "
			     "and not writable by group or others",
			     name, path, what, at, why, (unsigned)st->st_uid,
			     (unsigned)(st->st_mode & 07777), (unsigned)geteuid());
}

/*
 * A plugin runs with all the rights of the service, so whoever can replace
 * the file, or rename any directory above it, can run code as the service.
 * Accept only what root or we ourselves own and nobody else can write: the
 * file, its directory, and every directory up to / (an ancestor may be
 * writable by all when it is sticky, as /tmp is: others cannot rename or
 * remove what we own in it). The path is resolved first and the resolved
 * one is what dlopen() opens, so a symbolic link is judged by its target
 * and cannot be switched between the check and the load; with every
 * directory on the way trusted, nobody else can switch anything either.
 */
static int plugin_path_check(const char *path, const char *name, char *real,
			     struct ima_error *err)
{
	char dir[PATH_MAX];
	struct stat st;
	char *slash;

	if (realpath(path, real) == NULL)
		return ima_error_set(err, 500, "plugin_missing", "",
				     "plugin %s: cannot read %s: %s", name, path,
				     strerror(errno));
	if (stat(real, &st) != 0)
		return ima_error_set(err, 500, "plugin_missing", "",
				     "plugin %s: cannot read %s: %s", name, real,
				     strerror(errno));
	if (!S_ISREG(st.st_mode))
		return ima_error_set(err, 500, "plugin_load", "",
				     "plugin %s: %s is not a regular file", name, real);
	if (!owner_trusted(st.st_uid))
		return unsafe_path(err, name, path, "file", real, &st,
				   "owned by another user");
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		return unsafe_path(err, name, path, "file", real, &st,
				   "writable by group or others");
	snprintf(dir, sizeof(dir), "%s", real);
	for (bool parent = true; (slash = strrchr(dir, '/')) != NULL; parent = false) {
		/* "/a/b.so" -> "/a" -> "/" -> done */
		if (slash == dir) {
			if (dir[1] == '\0')
				break;
			dir[1] = '\0';
		} else {
			*slash = '\0';
		}
		if (stat(dir, &st) != 0)
			return ima_error_set(err, 500, "plugin_missing", "",
					     "plugin %s: cannot check %s: %s", name, dir,
					     strerror(errno));
		if (!owner_trusted(st.st_uid))
			return unsafe_path(err, name, path, "directory", dir, &st,
					   "owned by another user");
		if ((st.st_mode & (S_IWGRP | S_IWOTH)) &&
		    (parent || !(st.st_mode & S_ISVTX)))
			return unsafe_path(err, name, path, "directory", dir, &st,
					   "writable by group or others");
	}
	return 0;
}

int ima_plugin_open(const char *path, const char *name,
		    struct ima_loaded_plugin *out, struct ima_error *err)
{
	char real[PATH_MAX];
	struct abi_header h;
	char symbol[160];
	const void *desc;
	void *handle;

	memset(out, 0, sizeof(*out));
	if (access(path, R_OK) != 0)
		return ima_error_set(err, 500, "plugin_missing", "",
				     "plugin %s: cannot read %s: %s", name, path,
				     strerror(errno));
	if (plugin_path_check(path, name, real, err) != 0)
		return -1;
	handle = dlopen(real, RTLD_NOW | RTLD_LOCAL);
	if (handle == NULL)
		return ima_error_set(err, 500, "plugin_load", "",
				     "plugin %s: %s", name, dlerror());
	snprintf(symbol, sizeof(symbol), "ima_plugin_%s", name);
	desc = dlsym(handle, symbol);
	if (desc == NULL) {
		dlclose(handle);
		return ima_error_set(err, 500, "plugin_symbol", "",
				     "plugin %s: %s does not export the symbol %s",
				     name, path, symbol);
	}
	memcpy(&h, desc, sizeof(h));
	if (h.abi_major != IMA_ABI_MAJOR || h.abi_minor > IMA_ABI_MINOR) {
		dlclose(handle);
		return ima_error_set(err, 500, "plugin_abi", "",
				     "plugin %s wants ABI %u.%u, host provides %u.%u (%s)",
				     name, h.abi_major, h.abi_minor,
				     IMA_ABI_MAJOR, IMA_ABI_MINOR, path);
	}
	if (h.struct_size < IMA_PLUGIN_MIN_SIZE) {
		dlclose(handle);
		return ima_error_set(err, 500, "plugin_abi", "",
				     "plugin %s: descriptor of %" PRIu32 " bytes is smaller than ABI %u.0 requires (%zu) (%s)",
				     name, h.struct_size, IMA_ABI_MAJOR,
				     (size_t)IMA_PLUGIN_MIN_SIZE, path);
	}
	memcpy(&out->desc, desc,
	       h.struct_size < sizeof(out->desc) ? h.struct_size : sizeof(out->desc));
	/* A bit the plugin's ABI did not define means nothing: a 1.4 plugin
	 * with stray bits must not become an auth stage. */
	if (h.abi_minor < 5)
		out->desc.flags &= IMA_PLUGIN_LOCAL;
	if (!(out->desc.flags & IMA_PLUGIN_AUTH))
		out->desc.challenge = NULL;
	if (out->desc.name == NULL || strcmp(out->desc.name, name) != 0 ||
	    out->desc.process == NULL) {
		dlclose(handle);
		return ima_error_set(err, 500, "plugin_invalid", "",
				     "plugin %s: descriptor %s in %s must name itself '%s' and have a process hook",
				     name, symbol, path, name);
	}
	if ((out->desc.call_get == NULL) != (out->desc.call_put == NULL)) {
		dlclose(handle);
		return ima_error_set(err, 500, "plugin_invalid", "",
				     "plugin %s: %s has call_get or call_put but not both",
				     name, path);
	}
	if ((out->desc.flags & IMA_PLUGIN_AUTH) && out->desc.prefetch == NULL) {
		dlclose(handle);
		return ima_error_set(err, 500, "plugin_invalid", "",
				     "plugin %s: %s is an auth stage (IMA_PLUGIN_AUTH) without a prefetch hook",
				     name, path);
	}
	if (ima_plugin_check_options(&out->desc, err) != 0) {
		dlclose(handle);
		return -1;
	}
	out->handle = handle;
	out->path = ima_strdup(path);
	if (out->path == NULL) {
		dlclose(handle);
		return ima_error_set(err, 500, "internal", "", "out of memory");
	}
	return 0;
}

void ima_plugin_close(struct ima_loaded_plugin *lp)
{
	/* Under ASan, unloading would make leak reports point nowhere. */
	if (lp->handle != NULL && getenv("IMAGINATOR_NO_DLCLOSE") == NULL)
		dlclose(lp->handle);
	ima_free(lp->path);
	memset(lp, 0, sizeof(*lp));
}
